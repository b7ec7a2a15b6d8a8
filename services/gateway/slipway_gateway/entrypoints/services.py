"""`/api/services`: create, replace, read and delete Kubernetes Services."""

from __future__ import annotations

from slipway_contracts import subjects
from slipway_contracts.commands import SERVICE_COMMANDS, ServiceSpec
from slipway_contracts.entities import Service, ServiceStatus
from slipway_gateway.entrypoints.resources import Resource, ResourceRoutes

SERVICES = Resource(
    entity=subjects.SERVICE,
    path="/api/services",
    model=Service,
    statuses=ServiceStatus,
    noun="service",
    tag="services",
    commands=SERVICE_COMMANDS,
)

routes = ResourceRoutes(SERVICES)
routes.add_create(
    ServiceSpec,
    "Create a Service in front of a Deployment, on the Deployment's cluster (202; "
    "`active` once it has ready endpoints or an ingress address).",
)
routes.add_list()
routes.add_get()
routes.add_replace(ServiceSpec, "Replace the spec and apply it again (202).")
routes.add_delete("Remove the Service from its cluster, then the record.")
router = routes.router
