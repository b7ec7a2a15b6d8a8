"""The data model's rules for Deployments and Services, checked against the projections.

A rule about the request itself fails with InvalidInput (422, naming the field); a rule
about a state the user can change (a cluster that is stopped, an image still building)
fails with Conflict (409, naming the current status).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from slipway_contracts.entities import Deployment
from slipway_libs.errors import Conflict, InvalidInput
from slipway_workload_manager.domain.projections import (
    ProjectedChart,
    ProjectedCluster,
    ProjectedImage,
)

BUILT = "built"
RUNNING = "running"
VALID = "valid"


def _state_conflict(field: str, message: str, status: str) -> Conflict:
    return Conflict(message, {"field": field, "current_status": status})


def deployable_image(
    image_id: str | None,
    reference: str | None,
    by_id: ProjectedImage | None,
    by_reference: Iterable[ProjectedImage],
) -> ProjectedImage:
    """The built ContainerImage a Deployment runs, from `image_id` or its `name:tag`."""
    if image_id is not None:
        if by_id is None:
            raise InvalidInput.field("image_id", f"no ContainerImage has the id '{image_id}'")
        if reference is not None and reference != by_id.reference:
            raise InvalidInput.field(
                "image", f"'{reference}' is not the reference of image_id ({by_id.reference})"
            )
        return _built(by_id, "image_id")
    candidates = list(by_reference)
    built = [image for image in candidates if image.status == BUILT]
    if built:
        return built[0]
    if not candidates:
        raise InvalidInput.field("image", f"'{reference}' is not a built ContainerImage")
    return _built(candidates[0], "image")


def _built(image: ProjectedImage, field: str) -> ProjectedImage:
    if image.status == BUILT:
        return image
    why = f": {image.reason}" if image.reason else ""
    raise _state_conflict(
        field,
        f"ContainerImage '{image.reference}' is {image.status} (current status: "
        f"{image.status}){why}; deploy it once it is built",
        image.status,
    )


def passes_image_policy(image: ProjectedImage, enforce: bool, field: str) -> ProjectedImage:
    """Under the enforced image policy, an image whose scan found critical problems (a
    secret, a critical vulnerability, a root user) is refused: 409 naming them."""
    if enforce and image.critical_findings:
        raise Conflict(
            f"ContainerImage '{image.reference}' has unresolved critical findings and the "
            f"image policy is enforce: {'; '.join(image.critical_findings)}; rebuild it without "
            "them",
            {"field": field, "critical_findings": list(image.critical_findings)},
        )
    return image


def running_cluster(cluster_id: str, cluster: ProjectedCluster | None) -> ProjectedCluster:
    """The cluster a workload goes to; it must exist and be running."""
    if cluster is None:
        raise InvalidInput.field("cluster_id", f"no MinikubeCluster has the id '{cluster_id}'")
    if not cluster.running:
        why = f" ({cluster.reason})" if cluster.reason and cluster.status == "error" else ""
        raise _state_conflict(
            "cluster_id",
            f"cluster '{cluster.name}' is {cluster.status}{why} (current status: "
            f"{cluster.status}); deployments and services need a running cluster: start it first",
            cluster.status,
        )
    return cluster


def valid_chart(chart_id: str, chart: ProjectedChart | None) -> ProjectedChart:
    """A referenced HelmChart must exist and be valid."""
    if chart is None:
        raise InvalidInput.field("chart_id", f"no HelmChart has the id '{chart_id}'")
    if chart.status != VALID:
        raise _state_conflict(
            "chart_id",
            f"HelmChart '{chart.name}' is {chart.status} (current status: {chart.status}); "
            "only a valid chart deploys",
            chart.status,
        )
    return chart


def name_taken(kind: str, namespace: str, name: str) -> Conflict:
    """(cluster, namespace, name) names a workload's object: a second one is refused."""
    return Conflict(
        f"a {kind} named '{name}' already exists in namespace '{namespace}' of this cluster",
        {"namespace": namespace, "name": name},
    )


def same_identity(current: tuple[str, str, str], requested: tuple[str, str, str]) -> None:
    """`(cluster_id, namespace, name)` name the objects in the cluster: a PUT keeps them."""
    for field, old, new in zip(
        ("cluster_id", "namespace", "name"), current, requested, strict=True
    ):
        if old != new:
            raise InvalidInput.field(
                field,
                f"cannot change from '{old}' to '{new}': it names the objects in the "
                "cluster; delete this one and create another",
            )


def same_cluster(backend: Deployment, cluster_id: str) -> None:
    """A Kubernetes Service stays on its cluster: a PUT cannot move it to a deployment on
    another one."""
    if backend.cluster_id != cluster_id:
        raise InvalidInput.field(
            "deployment_id",
            f"deployment '{backend.name}' is on another cluster: a Service stays on "
            "its cluster; delete this one and create another",
        )


def service_backend(
    deployment_id: str,
    deployment: Deployment | None,
    *,
    namespace: str,
    target_port: int,
) -> Deployment:
    """A Service selects the pods of one Deployment: same namespace, its container port."""
    if deployment is None:
        raise InvalidInput.field("deployment_id", f"no Deployment has the id '{deployment_id}'")
    if namespace != deployment.namespace:
        raise InvalidInput.field(
            "namespace",
            f"must be the deployment's namespace '{deployment.namespace}' (a Service selects "
            "pods in its own namespace only)",
        )
    if target_port != deployment.container_port:
        raise InvalidInput.field(
            "target_port",
            f"{target_port} does not match the deployment's container_port "
            f"{deployment.container_port}",
        )
    return deployment


def port_kept_for_services(deployment: Deployment, port: int, services: list[str]) -> None:
    """The `services` selecting a Deployment's pods target its container port: the port
    moves only after them."""
    if services and port != deployment.container_port:
        raise InvalidInput.field(
            "container_port",
            f"services {', '.join(sorted(services))} target port "
            f"{deployment.container_port}: change their target_port along with it "
            f"(or delete them) before moving the container to port {port}",
        )


def not_in_use(deployment: Deployment, services: list[str]) -> None:
    """A Deployment whose pods `services` select is not deleted."""
    if services:
        names = sorted(services)
        raise Conflict(
            f"deployment '{deployment.name}' is in use by services "
            f"{', '.join(names)}: delete them first",
            {"services": names},
        )


# --- releases ------------------------------------------------------------------------


def release_images(
    images: Mapping[str, str], found: Mapping[str, ProjectedImage | None]
) -> dict[str, ProjectedImage]:
    """The built ContainerImage at each values path of a release (`images`: values path
    -> image id; `found`: image id -> what is known of it). Every path whose image is
    unknown or not built is reported at once, as `images.<values path>`."""
    built: dict[str, ProjectedImage] = {}
    details = []
    for path in sorted(images):
        image_id = images[path]
        image = found.get(image_id)
        if image is None:
            message = f"no ContainerImage has the id '{image_id}'"
        elif image.status != BUILT:
            why = f": {image.reason}" if image.reason else ""
            message = (
                f"ContainerImage '{image.reference}' is {image.status}{why}; "
                "a release takes built images only"
            )
        else:
            built[path] = image
            continue
        details.append({"field": f"images.{path}", "message": message})
    if details:
        raise InvalidInput("; ".join(f"{d['field']}: {d['message']}" for d in details), details)
    return built


def release_name_taken(namespace: str, name: str) -> Conflict:
    """helm names a release once per namespace of a cluster."""
    return Conflict(
        f"a release named '{name}' is already installed in namespace '{namespace}' of this "
        "cluster: upgrade it (PUT /api/releases/<id>) or choose another name",
        {"namespace": namespace, "name": name},
    )


def part_of_release(kind: str, name: str, release_name: str, release_id: str) -> Conflict:
    """A release's Deployment or Service changes only through its chart."""
    return Conflict(
        f"{kind} '{name}' is part of release '{release_name}': its chart owns it; upgrade "
        f"the release instead (PUT /api/releases/{release_id})",
        {"release_id": release_id},
    )


# --- why a workload is failed because of its cluster ------------------------------

_OUTAGE_PREFIX = "cluster '"


def cluster_outage(cluster: ProjectedCluster | None, cluster_id: str) -> str | None:
    """The reason workloads on a cluster that is not running are failed, or None."""
    if cluster is None:
        return f"cluster '{cluster_id}' no longer exists"
    if cluster.status == "stopped":
        return f"cluster '{cluster.name}' is stopped"
    if cluster.status == "error":
        why = f": {cluster.reason}" if cluster.reason else ""
        return f"cluster '{cluster.name}' is in error{why}"
    return None


def failed_by_outage(reason: str | None) -> bool:
    """Whether a failure came from the cluster being down (it is rolled again on its return)."""
    return bool(reason) and str(reason).startswith(_OUTAGE_PREFIX)
