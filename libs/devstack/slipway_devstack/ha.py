"""`make run-ha`: the same system on real distributed engines, all on 127.0.0.1, its state in
`.slipway-ha/` (laid out as `.slipway/`):

- a NATS JetStream cluster of three servers, clients on 4222, 4223 and 4224 (routes on
  6222, 6223, 6224, monitoring on 8222, 8223, 8224), the same NKey authorization as `make run`, the
  streams SLIPWAY_EVENTS, SLIPWAY_JOBS and SLIPWAY_AUDIT kept at 3 replicas;
- a MongoDB replica set of three members on 27017, 27018 and 27019, with the keyfile and
  the per-service users (their connection strings list all three);
- two replicas of every worker service, and two gateways on 8080 and 8081 sharing the
  admin token `.slipway-ha/admin.token`;
- the simulated cluster `local`;
- Prometheus on 9090 and Alertmanager on 9093 when installed, scraping every replica.

Run by `python -m slipway_devstack.ha` (or `python -m slipway_devstack --ha`); Ctrl-C stops
it all. The fault suite (`slipway_devstack.chaos`) starts the same topology on free ports.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from slipway_devstack import Topology, free_port, run

STATE_DIR = Path(".slipway-ha")
TOPOLOGY = Topology(
    nats_ports=(4222, 4223, 4224),
    nats_route_ports=(6222, 6223, 6224),
    nats_monitor_ports=(8222, 8223, 8224),
    mongo_ports=(27017, 27018, 27019),
    gateway_ports=(8080, 8081),
    replicas=2,
    stream_replicas=3,
    fixed_monitoring_ports=True,  # Prometheus on 9090 and Alertmanager on 9093, as `make run`
)


def on_free_ports(topology: Topology = TOPOLOGY) -> Topology:
    """`topology` with every server on a free loopback port (for tests and the fault suite)."""

    def free(ports: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(free_port() for _ in ports)

    return Topology(
        nats_ports=free(topology.nats_ports),
        nats_route_ports=free(topology.nats_route_ports),
        nats_monitor_ports=free(topology.nats_monitor_ports),
        mongo_ports=free(topology.mongo_ports),
        gateway_ports=free(topology.gateway_ports),
        replicas=topology.replicas,
        stream_replicas=topology.stream_replicas,
        worker_health=topology.worker_health,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Run Slipway's highly available stack")
    parser.add_argument("--state-dir", type=Path, default=STATE_DIR)
    args = parser.parse_args()
    sys.exit(run(args.state_dir, TOPOLOGY))


if __name__ == "__main__":
    main()
