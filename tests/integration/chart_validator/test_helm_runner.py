"""How helm is run: offline, in a throw-away home, with a deadline, never through a shell."""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

import pytest

from slipway_chart_validator import ValidationRequest, local_tools, validate_chart
from slipway_chart_validator.adapters.helm import Helm
from slipway_libs.process import ToolUnavailable, find_tool

pytestmark = pytest.mark.asyncio

FIXTURE_CHARTS = Path(__file__).resolve().parents[2] / "fixtures" / "charts"
GOOD = FIXTURE_CHARTS / "good"
GOOD_REQUEST = ValidationRequest(expected_name="good")


async def test_helm_leaves_the_users_helm_home_and_the_temp_dir_untouched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    for variable in ("HOME", "HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"):
        monkeypatch.setenv(variable, str(home))
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    findings = await validate_chart(local_tools(), GOOD, GOOD_REQUEST)
    assert [f for f in findings if f.severity == "error"] == []
    assert list(home.iterdir()) == []
    assert list(scratch.iterdir()) == []


async def test_a_remote_schema_reference_is_never_fetched(tmp_path: Path) -> None:
    chart = tmp_path / "good"
    shutil.copytree(GOOD, chart)
    (chart / "values.schema.json").write_text('{"$ref": "https://charts.example.com/s.json"}')
    started = time.monotonic()
    findings = await validate_chart(local_tools(), chart, GOOD_REQUEST)
    assert time.monotonic() - started < 10
    (template,) = [f for f in findings if f.rule == "helm.template"]
    assert "charts.example.com" in template.message and "offline" in template.message


async def test_the_target_kubernetes_version_reaches_helm(tmp_path: Path) -> None:
    chart = tmp_path / "good"
    shutil.copytree(GOOD, chart)
    (chart / "templates" / "version.yaml").write_text(
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: version\n"
        "data:\n  kube: {{ .Capabilities.KubeVersion.Version | quote }}\n"
    )
    values = tmp_path / "values.json"
    values.write_text("{}")
    rendered = await Helm().template(chart, "good", values, "1.30.0")
    assert rendered.manifests is not None and 'kube: "v1.30.0"' in rendered.manifests


async def test_a_slow_helm_run_becomes_a_finding() -> None:
    findings = await validate_chart(local_tools(helm=Helm(timeout=0.001)), GOOD, GOOD_REQUEST)
    assert {f.rule for f in findings} == {"helm.lint", "helm.template"}
    assert all("did not finish within" in f.message for f in findings)


async def test_missing_helm_is_an_installation_error_not_a_finding(tmp_path: Path) -> None:
    with pytest.raises(ToolUnavailable):
        await validate_chart(local_tools(helm=Helm(tmp_path / "no-such-helm")), GOOD, GOOD_REQUEST)


async def test_helm_is_found_next_to_the_python_interpreter() -> None:
    assert find_tool("helm") == Path(sys.executable).parent / "helm"


async def test_concurrency_limit_still_validates_everything() -> None:
    tools = local_tools(helm=Helm(max_concurrency=2))
    results = await asyncio.gather(*(validate_chart(tools, GOOD, GOOD_REQUEST) for _ in range(6)))
    assert all(result == results[0] for result in results)
