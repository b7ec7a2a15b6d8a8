"""`/api/deployments`: roll out, replace, scale, repair, read and delete Deployments."""

from __future__ import annotations

from slipway_contracts import subjects
from slipway_contracts.commands import DEPLOYMENT_COMMANDS, DeploymentSpec, ScaleDeployment
from slipway_contracts.entities import Deployment, DeploymentStatus
from slipway_gateway.entrypoints.resources import Resource, ResourceRoutes, request_body

DEPLOYMENTS = Resource(
    entity=subjects.DEPLOYMENT,
    path="/api/deployments",
    model=Deployment,
    statuses=DeploymentStatus,
    noun="deployment",
    tag="deployments",
    commands=DEPLOYMENT_COMMANDS,
)
Scale = request_body(ScaleDeployment, "Scale", "The new replica count of a Deployment.")

routes = ResourceRoutes(DEPLOYMENTS)
routes.add_create(
    DeploymentSpec,
    "Roll out a Deployment of a built image on a running cluster (202; `pending` until "
    "the rollout is available, then `running`, or `failed` with the cluster's reason).",
)
routes.add_list()
routes.add_get()
routes.add_replace(DeploymentSpec, "Replace the spec and roll it out again (202, `updating`).")
routes.add_delete("Remove the Deployment from its cluster, then the record.")
routes.add_action("scale", "Change the replica count (202, `updating`).", body=Scale)
routes.add_action(
    "repair", "Re-apply a Deployment whose cluster objects drifted from its spec (202)."
)
router = routes.router
