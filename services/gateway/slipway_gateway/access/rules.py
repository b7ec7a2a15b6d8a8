"""Who may call what.

Every `/api` call needs a token of at least some role (`viewer` < `operator` < `admin`):

| call                                                              | role     |
|-------------------------------------------------------------------|----------|
| `GET` on an entity                                                | viewer   |
| `GET` of what reveals a secret or a log (`REVEALING_READS`)       | operator |
| anything else on an entity: create, replace, delete, actions      | operator |
| `/api/tokens*`, `/api/audit`, `/api/webhooks*` (`ADMIN_RESOURCES`)| admin    |
| `GET /api/approvals*`; `POST …/approve`, `…/reject`                | viewer; operator |
| `/api/advice/*`, `POST /api/advice/dockerfile` too (`ADVICE`)     | viewer   |

The advisors change nothing: `POST /api/advice/dockerfile` only reads a build context
inside the build roots (as a build would) and answers a review, so a viewer may call it.
A build's advice names the failing step and the image's reason (already on the image),
never the rest of its log (an operator's read).

The MCP server (`/mcp`) needs at least a viewer token to connect; each tool or resource
there then needs the role of the API call it stands for (`mcp_role`): a viewer sees only
the read tools.

A token scoped to namespaces changes only namespaced entities (charts, deployments,
services, releases: those with a `namespace`) in those namespaces; its reads are not
limited. `/metrics` follows `metrics_access`.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from slipway_contracts.access import Role
from slipway_gateway.access.identity import Principal
from slipway_libs.errors import SlipwayError

API_PREFIX = "/api"
MCP_PATH = "/mcp"
READ_METHODS = frozenset({"GET", "HEAD"})
# Webhooks are admin's: a subscription sends every event it matches, of every namespace,
# out of Slipway, signed with a long-lived secret, like a token handed out.
ADMIN_RESOURCES = frozenset({"tokens", "audit", "webhooks"})
# Reads that hand out a secret or a log: a cluster's kubeconfig (its credentials), an
# image's build log, a release's rendered manifest (it holds the chart's Secrets).
REVEALING_READS = frozenset({"kubeconfig", "logs", "manifest"})
# Read-only whatever their method: the advisors.
ADVICE = "advice"


@dataclass(frozen=True)
class ApiPath:
    """An API path as `/api/<resource>[/<name>[/<subresource>]]` (the name: an entity id)."""

    resource: str | None
    name: str | None = None
    subresource: str | None = None

    @classmethod
    def parse(cls, path: str) -> ApiPath | None:
        """The parts of an `/api` path; None for a path outside the API."""
        if path != API_PREFIX and not path.startswith(API_PREFIX + "/"):
            return None
        parts = [p for p in path.removeprefix(API_PREFIX).split("/") if p]
        resource = parts[0] if parts else None
        name = parts[1] if len(parts) > 1 else None
        return cls(resource, name, "/".join(parts[2:]) or None)

    @property
    def is_collection(self) -> bool:
        return self.resource is not None and self.name is None


class Forbidden(SlipwayError):
    """A valid token that may not make this call (403); `details` name the rule."""

    code = "forbidden"
    http_status = 403


def is_read(method: str) -> bool:
    return method.upper() in READ_METHODS


def required_role(method: str, path: ApiPath) -> Role:
    """The least role that may make this API call."""
    if path.resource in ADMIN_RESOURCES:
        return Role.ADMIN
    if path.resource == ADVICE:
        return Role.VIEWER
    if not is_read(method) or path.subresource in REVEALING_READS:
        return Role.OPERATOR
    return Role.VIEWER


def is_mcp(path: str) -> bool:
    """Whether the path is the MCP server's (streamable HTTP)."""
    return path == MCP_PATH or path.startswith(MCP_PATH + "/")


def mcp_role(read: bool, path: ApiPath) -> Role:
    """The least role of an MCP tool or resource: that of the API call it stands for (a
    read is a GET of `path`, a change a POST to it)."""
    return required_role("GET" if read else "POST", path)


def check_role(principal: Principal, needed: Role) -> None:
    """Forbidden unless the principal's role is at least `needed`."""
    if principal.role is not None and principal.role.allows(needed):
        return
    raise Forbidden(
        f"this needs the {needed} role; token '{principal.name}' has the {principal.role} role",
        {"required_role": str(needed)},
    )


def check_namespace(principal: Principal, resource: str, namespace: str | None) -> None:
    """Forbidden when a scoped principal would change something outside its namespaces.
    `namespace` None: the resource has no namespace (images, clusters)."""
    allowed = principal.namespaces
    if allowed is None or (namespace is not None and namespace in allowed):
        return
    where = (
        f"{resource} have no namespace"
        if namespace is None
        else f"this one is in namespace '{namespace}'"
    )
    raise Forbidden(
        f"token '{principal.name}' is scoped to namespaces {', '.join(allowed)}: it may "
        f"change only charts, deployments, services and releases there, and {where}",
        {"allowed_namespaces": list(allowed)},
    )


def metrics_role(access: str, client_host: str | None) -> Role | None:
    """The role `/metrics` needs from this client under `metrics_access`; None: open."""
    if access == "open" or (access == "loopback" and is_loopback(client_host)):
        return None
    return Role.VIEWER


def is_loopback(host: str | None) -> bool:
    try:
        address = ipaddress.ip_address(host or "")
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback
