"""`/api/minikube-clusters`: register, start, stop, restart, read and delete clusters,
and hand out a running cluster's kubeconfig."""

from __future__ import annotations

from fastapi.responses import Response

from slipway_contracts import subjects
from slipway_contracts.commands import CLUSTER_COMMANDS, CreateCluster
from slipway_contracts.entities import ClusterStatus, MinikubeCluster
from slipway_gateway.entrypoints.http import Bus, problems
from slipway_gateway.entrypoints.resources import Resource, ResourceRoutes, StatusRule

CLUSTERS = Resource(
    entity=subjects.MINIKUBE_CLUSTER,
    path="/api/minikube-clusters",
    model=MinikubeCluster,
    statuses=ClusterStatus,
    noun="cluster",
    tag="minikube clusters",
    commands=CLUSTER_COMMANDS,
)
YAML = "application/yaml"


# Registering is done when the reply comes (201); a start takes minutes and runs on (202).
CREATED_OR_STARTING = StatusRule(lambda spec, cluster: 202 if spec.start else 201, (201, 202))


routes = ResourceRoutes(CLUSTERS)
routes.add_create(
    CreateCluster,
    "Register a cluster, stopped (201); with `start: true` also start it (202; poll it "
    "or watch the events). cpus, memory and disk_size must fit the host.",
    status=CREATED_OR_STARTING,
)
routes.add_list()
routes.add_get()
routes.add_action("start", "Start a stopped or errored cluster (202; it turns `running`).")
routes.add_action("stop", "Stop a running or errored cluster, keeping its state (202).")
routes.add_action("restart", "Stop, then start the cluster (202).")
routes.add_accepted_delete(
    "Remove the cluster from its backend (e.g. `minikube delete`, stopping it first), then the "
    "record (202 with the delete in flight as `operation`; a `deleted` event follows, or "
    "`error` with the reason)."
)
router = routes.router


@router.get(
    "/{cluster_id}/kubeconfig",
    response_class=Response,
    responses={
        200: {"content": {YAML: {}}, "description": "A self-contained kubeconfig"},
        **problems(409),  # the cluster is not running
    },
)
async def cluster_kubeconfig(cluster_id: str, bus: Bus) -> Response:
    """The running cluster's kubeconfig, for kubectl:
    `curl .../kubeconfig > kc && kubectl --kubeconfig kc get ns`."""
    reply = await CLUSTERS.query(bus, "kubeconfig", {"id": cluster_id})
    text = reply["kubeconfig"] if isinstance(reply, dict) else str(reply)
    # It holds the cluster's credentials: no cache may keep a copy.
    return Response(text, media_type=YAML, headers={"Cache-Control": "no-store"})
