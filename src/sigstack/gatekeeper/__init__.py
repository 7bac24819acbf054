"""The OPA Gatekeeper external-data provider (``sigstack gatekeeper serve``):
:mod:`.provider` answers ProviderRequests from the same policy engine as the
admission webhook, :mod:`.server` serves them over TLS 1.3."""
