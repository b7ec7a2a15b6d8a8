"""Slipway's own chart validator (real helm, schemas, policy) accepts what Slipway applies:
the namespace it creates, a Deployment with its ServiceAccount and NetworkPolicy, a Service."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from slipway_chart_validator import ValidationRequest, local_tools, validate_chart
from slipway_contracts.entities import ProbeSettings
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


@pytest.mark.parametrize(
    "probe", [ProbeSettings(), ProbeSettings(path="/healthz")], ids=["tcp", "http"]
)
async def test_a_slipway_deployment_is_a_valid_chart(tmp_path: Path, probe: ProbeSettings) -> None:
    entity = deployment_entity("shop", probe=probe, env={"MODE": "production"})
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
