"""Slipway's keys: who signed a command sent over NATS (`principals`: NKey signatures) and
secrets sealed at rest (`secrets`: AES-GCM under the installation's key)."""
