"""What the bench creates: a simulated-driver cluster that is not started, the cheapest
create Slipway has (one entity, one `created` event, no job), as a REST body and as the
document the cluster-manager stores (for the raw ceiling and for seeding)."""

from __future__ import annotations

import functools
import uuid
from datetime import UTC, datetime
from typing import Any

from slipway_contracts import subjects
from slipway_contracts.entities import ClusterDriverName, ClusterStatus, MinikubeCluster

CLUSTER_PATH = "/api/minikube-clusters"
CLUSTER_DATABASE = "slipway_cluster_manager"  # the cluster-manager's own database
CLUSTER_COLLECTION = "minikube_clusters"
CREATE_SUBJECT = subjects.command(subjects.MINIKUBE_CLUSTER, "create")
CREATED_SUBJECT = subjects.event(subjects.MINIKUBE_CLUSTER, "created")


def cluster_body(name: str) -> dict[str, Any]:
    """The create body (REST and NATS): driver `sim`, no start, the smallest sizes."""
    return {"name": name, "driver": "sim", "cpus": 1, "memory": 1024, "disk_size": 2048}


@functools.cache
def _template() -> dict[str, Any]:
    now = datetime.now(UTC)
    model = MinikubeCluster(
        id="template",
        name="template",
        driver=ClusterDriverName.SIM,
        status=ClusterStatus.STOPPED,
        cpus=1,
        memory=1024,
        disk_size=2048,
        kubernetes_version="v1.32.0",
        created_at=now,
        last_updated=now,
        revision=1,
    )
    document = model.model_dump(mode="python")
    del document["id"]
    return document


def cluster_document(
    name: str, created_at: datetime, entity_id: str | None = None
) -> dict[str, Any]:
    """The cluster-manager's stored document of a new stopped sim cluster (`_id` = its id),
    shaped by the contract model."""
    return {
        **_template(),
        "_id": entity_id or str(uuid.uuid4()),
        "name": name,
        "created_at": created_at,
        "last_updated": created_at,
    }


def created_event(document: dict[str, Any]) -> dict[str, Any]:
    """The CloudEvent a create of `document` publishes (as `unit_of_work.events_of` makes it)."""
    snapshot = {k: v for k, v in document.items() if k != "_id"}
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "slipway/cluster-manager",
        "type": f"io.slipway.{subjects.MINIKUBE_CLUSTER}.created.v1",
        "subject": document["_id"],
        "time": document["created_at"].isoformat(),
        "datacontenttype": "application/json",
        "entityversion": 1,
        "correlationid": str(uuid.uuid4()),
        "causationid": str(uuid.uuid4()),
        "data": {**snapshot, "id": document["_id"], "previous_status": None},
    }
