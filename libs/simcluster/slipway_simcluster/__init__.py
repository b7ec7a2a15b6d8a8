"""Slipway's simulated Kubernetes cluster.

A local process speaking the Kubernetes REST API, so the official `kubernetes` client,
`kubectl` and `helm` work against it unchanged. It is a simulation: pods do not run, a
simulated kubelet and controllers move their status.

Run it with `python -m slipway_simcluster serve …` or, from Python, with
`SimulatedClusterProcess`.
"""

from slipway_simcluster.kubeconfig import kubeconfig_document, write_kubeconfig
from slipway_simcluster.process import (
    SimulatedClusterError,
    SimulatedClusterProcess,
    find_free_port,
    port_is_free,
    running_server_pid,
    stop_servers_under,
    terminate_server,
)

__all__ = [
    "SimulatedClusterError",
    "SimulatedClusterProcess",
    "find_free_port",
    "kubeconfig_document",
    "port_is_free",
    "running_server_pid",
    "stop_servers_under",
    "terminate_server",
    "write_kubeconfig",
]
