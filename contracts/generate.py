"""Regenerate the checked-in contract documents: `openapi.json` (the gateway's REST API)
and `asyncapi/<service>.json` (each service's NATS channels). `make contracts` runs it;
a test fails when the checked-in copies differ from what the code generates."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_NATS = "nats://127.0.0.1:4222"  # the documents name the embedded default server


def openapi() -> dict[str, Any]:
    from slipway_gateway.app import create_app
    from slipway_gateway.settings import GatewaySettings

    return create_app(GatewaySettings(nats_url=DEFAULT_NATS)).openapi()


def asyncapi_documents() -> dict[str, dict[str, Any]]:
    """Each service's AsyncAPI document, generated with default settings."""
    from slipway_chart_validator.app import create_app as chart_validator
    from slipway_chart_validator.settings import ChartValidatorSettings
    from slipway_cluster_manager.app import create_app as cluster_manager
    from slipway_cluster_manager.settings import ClusterManagerSettings
    from slipway_image_builder.app import create_app as image_builder
    from slipway_image_builder.settings import ImageBuilderSettings
    from slipway_workload_manager.app import create_app as workload_manager
    from slipway_workload_manager.settings import WorkloadManagerSettings

    factories: dict[str, Callable[[], Any]] = {
        "image-builder": lambda: image_builder(ImageBuilderSettings(nats_url=DEFAULT_NATS)),
        "chart-validator": lambda: chart_validator(ChartValidatorSettings(nats_url=DEFAULT_NATS)),
        "cluster-manager": lambda: cluster_manager(ClusterManagerSettings(nats_url=DEFAULT_NATS)),
        "workload-manager": lambda: workload_manager(
            WorkloadManagerSettings(nats_url=DEFAULT_NATS)
        ),
    }
    return {
        name: factory().schema.to_specification().to_jsonable()
        for name, factory in factories.items()
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def expected_files() -> dict[Path, str]:
    files = {HERE / "openapi.json": render(openapi())}
    for name, document in asyncapi_documents().items():
        files[HERE / "asyncapi" / f"{name}.json"] = render(document)
    return files


def main() -> None:
    for path, text in expected_files().items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE.parent)}", file=sys.stderr)


if __name__ == "__main__":
    main()
