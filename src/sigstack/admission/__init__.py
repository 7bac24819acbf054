"""The Kubernetes admission webhook (``sigstack admission serve``): AdmissionReview v1
in, policy-controller's decisions out, over TLS. :mod:`.workloads` finds the images of
each kind, :mod:`.kube` reads pull secrets and service accounts through the Kubernetes
API, :mod:`.webhook` decides (validating and mutating), :mod:`.server` serves it."""
