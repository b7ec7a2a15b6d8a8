"""Slipway cluster-manager: owns MinikubeCluster entities and the drivers behind them."""
