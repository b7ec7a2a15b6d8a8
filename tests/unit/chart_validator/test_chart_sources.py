"""The `source` query: whoever installs a chart gets its files as a `.tgz`, whether they
were uploaded or lie in a chart root (the installer needs no access to this service's disk)."""

from __future__ import annotations

import base64
import io
import tarfile
from pathlib import Path

import pytest

from slipway_chart_validator.service_layer.sources import chart_source
from slipway_contracts.queries import ChartSourceQuery
from slipway_libs.errors import NotFound
from tests.unit.chart_validator.fakes import packed
from tests.unit.chart_validator.test_chart_commands import UPLOAD, put_chart


def members(archive_b64: str) -> dict[str, bytes]:
    data = base64.b64decode(archive_b64)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
        return {
            m.name: archive.extractfile(m).read()  # type: ignore[union-attr]
            for m in archive.getmembers()
            if m.isfile()
        }


async def test_a_chart_in_a_root_is_packed_with_its_name_as_top_folder(deps, tmp_path: Path):
    chart_dir = tmp_path / "on-disk" / "web"
    (chart_dir / "templates").mkdir(parents=True)
    (chart_dir / "Chart.yaml").write_text("name: web\n")
    (chart_dir / "templates" / "a.yaml").write_text("kind: ConfigMap\n")
    deps.tools.source.resolve = lambda path: chart_dir  # type: ignore[method-assign]
    chart = put_chart(deps)
    reply = await chart_source(deps, ChartSourceQuery(id=chart.id))
    assert reply["ok"] is True
    answer = reply["data"]
    assert (answer["name"], answer["version"]) == ("web", "1.0.0")
    assert members(answer["archive"]) == {
        "web/Chart.yaml": b"name: web\n",
        "web/templates/a.yaml": b"kind: ConfigMap\n",
    }


async def test_an_uploaded_chart_is_handed_over_as_uploaded(deps):
    chart = put_chart(deps, source=UPLOAD)
    answer = (await chart_source(deps, ChartSourceQuery(id=chart.id)))["data"]
    assert base64.b64decode(answer["archive"]) == packed("web")


async def test_an_unknown_chart_is_not_found(deps):
    with pytest.raises(NotFound, match="does not exist"):
        await chart_source(deps, ChartSourceQuery(id="nope"))
