"""The gateway: Slipway's REST API, turned into commands and queries on NATS."""
