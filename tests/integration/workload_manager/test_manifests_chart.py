"""Slipway's own chart validator (real helm, schemas, policy) accepts what Slipway applies:
the namespace it creates, a Deployment with its ServiceAccount and NetworkPolicy, a Service."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from slipway_chart_validator import ValidationRequest, local_tools, validate_chart
from slipway_contracts.entities import Placement, ProbeSettings
from slipway_workload_manager.domain.manifests import (
    deployment_objects,
    namespace_manifest,
    service_manifest,
)

from .conftest import IMAGE, deployment_entity, service_entity

pytestmark = pytest.mark.asyncio


def write_chart(directory: Path, objects: dict[str, dict[str, object]]) -> Path:
    """A chart whose templates are the given objects, verbatim."""
    (directory / "templates").mkdir(parents=True)
    (directory / "Chart.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v2",
                "name": "web",
                "version": "1.0.0",
                "appVersion": "1.0.0",
                "description": "Slipway's own objects",
            }
        )
    )
    (directory / "values.yaml").write_text("{}\n")
    for name, body in objects.items():
        (directory / "templates" / f"{name}.yaml").write_text(yaml.safe_dump(body))
    return directory


# Every placement setting at once: a node label, affinity to another application's pods,
# required and preferred anti-affinity, a hard spread over zones.
PLACED = Placement.model_validate(
    {
        "node_selector": {"disktype": "ssd"},
        "pod_affinity": [
            {"topology_key": "kubernetes.io/hostname", "match_labels": {"app": "cache"}}
        ],
        "pod_anti_affinity": [
            {"topology_key": "kubernetes.io/hostname", "required": True},
            {"topology_key": "topology.kubernetes.io/zone", "weight": 50},
        ],
        "topology_spread": [
            {"topology_key": "topology.kubernetes.io/zone", "when_unsatisfiable": "DoNotSchedule"}
        ],
    }
)


@pytest.mark.parametrize(
    ("probe", "placement"),
    [(ProbeSettings(), Placement()), (ProbeSettings(path="/healthz"), PLACED)],
    ids=["tcp-default-spread", "http-placed"],
)
async def test_a_slipway_deployment_is_a_valid_chart(
    tmp_path: Path, probe: ProbeSettings, placement: Placement
) -> None:
    entity = deployment_entity("shop", probe=probe, env={"MODE": "production"}, placement=placement)
    objects = {body["kind"].lower(): body for body in deployment_objects(entity, IMAGE)}
    chart = write_chart(
        tmp_path / "web",
        {
            "namespace": namespace_manifest(entity.namespace),
            **objects,
            "service": service_manifest(service_entity(entity, type="NodePort"), entity),
        },
    )

    findings = await validate_chart(local_tools(), chart, ValidationRequest(expected_name="web"))

    assert findings == []
