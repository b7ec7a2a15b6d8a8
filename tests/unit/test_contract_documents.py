"""The checked-in OpenAPI and AsyncAPI documents are what the code generates."""

import importlib.util
from pathlib import Path

import pytest

GENERATE = Path(__file__).resolve().parents[2] / "contracts" / "generate.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("contracts_generate", GENERATE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("path", sorted(load_generator().expected_files()), ids=lambda p: p.name)
def test_checked_in_document_is_current(path):
    expected = load_generator().expected_files()[path]
    assert path.exists(), f"{path} is missing: run `make contracts`"
    assert path.read_text() == expected, f"{path.name} is stale: run `make contracts`"


def test_every_image_event_has_a_documented_channel():
    import json

    document = json.loads((GENERATE.parent / "asyncapi" / "image-builder.json").read_text())
    addresses = {c["address"] for c in document["channels"].values()}
    for event in ("created", "updated", "deleted", "building", "built", "failed"):
        assert f"slipway.events.container_image.{event}" in addresses
    assert "slipway.jobs.container_image.build" in addresses


def test_openapi_has_the_seed_paths():
    import json

    document = json.loads((GENERATE.parent / "openapi.json").read_text())
    assert {
        "/api/container-images",
        "/api/container-images/{image_id}",
        "/healthz",
        "/readyz",
    } <= set(document["paths"])
