"""Prometheus metrics of Slipway's services: every name starts `slipway_` (README: Monitoring)."""
