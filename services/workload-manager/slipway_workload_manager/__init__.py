"""Slipway workload-manager: rolls out Deployments and Services and tracks them."""
