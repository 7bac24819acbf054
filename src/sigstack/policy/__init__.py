"""Admission policies: policy-controller's ClusterImagePolicy (and sigstack's namespaced
ImagePolicy) parsed strictly (:mod:`.models`), matched by image glob (:mod:`.glob`) and
evaluated with policy-controller's semantics and error strings (:mod:`.engine`, with
Rego in :mod:`.rego` and knative's field errors in :mod:`.fielderror`). The admission
webhook, the Gatekeeper provider and ``sigstack policy test`` are shells over this.
"""
