"""The cluster-manager's use cases, one module per concern (see the service README)."""
