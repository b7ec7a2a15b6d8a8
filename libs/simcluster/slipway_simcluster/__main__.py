"""Command line: `python -m slipway_simcluster serve --name NAME --state-dir DIR …`.

Prints one JSON line `{"ready": true, "port": N, "kubeconfig": PATH}` on stdout once the
simulated API server listens (logs go to stderr), and exits cleanly on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import errno
import json
import logging
import os
import sys
from pathlib import Path

import uvloop

from slipway_simcluster.cluster import ClusterConfig, StateDirLocked
from slipway_simcluster.pki import CertificateError
from slipway_simcluster.server import bind_socket, serve

TOKEN_ENV = "SLIPWAY_SIMCLUSTER_TOKEN"
EXIT_PORT_IN_USE = 98  # errno EADDRINUSE on Linux: the launcher retries on another port
EXIT_CANNOT_START = 3  # state directory in use, or no TLS certificates


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m slipway_simcluster",
        description="Slipway's simulated Kubernetes cluster (a local API server, not a real cluster).",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("serve", help="serve a simulated cluster on 127.0.0.1")
    run.add_argument(
        "--name", required=True, help="cluster name (kubeconfig cluster/user/context, node name)"
    )
    run.add_argument(
        "--state-dir", required=True, type=Path, help="directory holding the state snapshot"
    )
    run.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0 = pick a free one)")
    run.add_argument(
        "--token", default=os.environ.get(TOKEN_ENV), help=f"bearer token (default: ${TOKEN_ENV})"
    )
    run.add_argument(
        "--kubeconfig", required=True, type=Path, help="kubeconfig file to write once listening"
    )
    run.add_argument(
        "--kubernetes-version", default="v1.32.0", help="version reported by /version and the node"
    )
    run.add_argument(
        "--ready-delay",
        type=float,
        default=0.5,
        help="seconds before a pod with an available image is Ready",
    )
    run.add_argument(
        "--docker-host",
        default=None,
        help="Docker Engine URL whose images the cluster can also run",
    )
    run.add_argument(
        "--watch-history", type=int, default=10_000, help="watch events kept for resuming watches"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.token:
        print(f"a bearer token is required (--token or ${TOKEN_ENV})", file=sys.stderr)
        return 2
    try:
        sock = bind_socket(args.port)
    except OSError as error:
        print(
            f"simulated cluster {args.name}: cannot listen on 127.0.0.1:{args.port}: {error}",
            file=sys.stderr,
        )
        return EXIT_PORT_IN_USE if error.errno == errno.EADDRINUSE else 1
    config = ClusterConfig(
        name=args.name,
        state_dir=args.state_dir.resolve(),
        token=args.token,
        kubernetes_version=args.kubernetes_version,
        ready_delay=args.ready_delay,
        docker_host=args.docker_host,
        watch_history=args.watch_history,
    )
    kubeconfig = args.kubeconfig.resolve()

    def announce(port: int) -> None:
        logging.getLogger(__name__).info(
            "simulated cluster %s listening on 127.0.0.1:%d", args.name, port
        )
        print(json.dumps({"ready": True, "port": port, "kubeconfig": str(kubeconfig)}), flush=True)

    try:
        uvloop.run(serve(config, sock, kubeconfig, announce))  # libuv: less CPU per call
    except (StateDirLocked, CertificateError) as error:
        print(f"simulated cluster {args.name}: {error}", file=sys.stderr)
        return EXIT_CANNOT_START
    finally:
        sock.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
