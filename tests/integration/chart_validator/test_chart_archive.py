"""Uploaded chart archives: safe extraction, and validation of a packaged chart."""

from __future__ import annotations

import gzip
import io
import stat
import tarfile
from pathlib import Path

import pytest

from slipway_chart_validator import ValidationRequest, local_tools, validate_chart_archive
from slipway_chart_validator.adapters.archive import UnsafeArchive, extract_chart_archive

FIXTURE_CHARTS = Path(__file__).resolve().parents[2] / "fixtures" / "charts"
LIMIT = 1024 * 1024


def regular(
    name: str, content: bytes = b"data", mode: int = 0o644
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = mode
    return info, content


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info, b""


def tgz(*members: tuple[tarfile.TarInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for info, content in members:
            archive.addfile(info, io.BytesIO(content) if info.isfile() else None)
    return buffer.getvalue()


def packaged(chart: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        archive.add(chart, arcname=chart.name)
    return buffer.getvalue()


CHART_YAML = regular("web/Chart.yaml", b"apiVersion: v2\nname: web\nversion: 0.1.0\n")


@pytest.mark.parametrize(
    ("member", "rule"),
    [
        (regular("../../etc/passwd", b"root::0:0::/root:/bin/sh\n"), "parent-reference"),
        (regular("web/../../etc/passwd"), "parent-reference"),
        (regular("/etc/passwd"), "absolute-path"),
        (special("web/etc", tarfile.SYMTYPE, "/etc"), "link"),
        (special("web/passwd", tarfile.LNKTYPE, "../../etc/passwd"), "link"),
        (special("web/inner", tarfile.SYMTYPE, "Chart.yaml"), "link"),
        (special("web/null", tarfile.CHRTYPE), "special-file"),
        (special("web/disk", tarfile.BLKTYPE), "special-file"),
        (special("web/pipe", tarfile.FIFOTYPE), "special-file"),
    ],
)
def test_malicious_members_are_refused_and_nothing_is_written(
    tmp_path: Path, member: tuple[tarfile.TarInfo, bytes], rule: str
) -> None:
    dest = tmp_path / "dest"
    # The bad member comes last: everything is checked before anything is written.
    data = tgz(CHART_YAML, regular("web/values.yaml", b"a: 1\n"), member)
    with pytest.raises(UnsafeArchive) as refused:
        extract_chart_archive(data, dest, LIMIT)
    assert refused.value.rule == rule
    assert refused.value.member == member[0].name
    assert repr(member[0].name) in str(refused.value) and rule in str(refused.value)
    assert list(tmp_path.rglob("*")) == []


def test_unpacked_size_over_the_limit_is_refused(tmp_path: Path) -> None:
    # Zeros compress ~1000:1: a small upload that would unpack past the limit.
    data = tgz(CHART_YAML, regular("web/big.bin", b"\0" * (LIMIT + 1)))
    assert len(data) < LIMIT // 100
    with pytest.raises(UnsafeArchive) as refused:
        extract_chart_archive(data, tmp_path / "dest", LIMIT)
    assert refused.value.rule == "size-limit"
    assert refused.value.member == "web/big.bin"
    assert list(tmp_path.rglob("*")) == []


@pytest.mark.parametrize(
    ("data", "rule"),
    [
        (b"PK\x03\x04 a zip file", "not-gzip"),
        (b"", "not-gzip"),
        (gzip.compress(b"just some text, not a tar archive" * 20), "not-tar"),
        (tgz(CHART_YAML)[:40], "not-tar"),
    ],
)
def test_data_that_is_not_a_tgz_is_refused(tmp_path: Path, data: bytes, rule: str) -> None:
    with pytest.raises(UnsafeArchive) as refused:
        extract_chart_archive(data, tmp_path / "dest", LIMIT)
    assert refused.value.rule == rule
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize(
    "members",
    [
        [CHART_YAML, regular("other/Chart.yaml")],
        [regular("Chart.yaml")],
        [],
    ],
)
def test_exactly_one_top_level_directory(tmp_path: Path, members: list) -> None:
    with pytest.raises(UnsafeArchive) as refused:
        extract_chart_archive(tgz(*members), tmp_path / "dest", LIMIT)
    assert refused.value.rule == "single-root"


def test_a_packaged_chart_is_extracted_into_dest(tmp_path: Path) -> None:
    dest = tmp_path / "dest"
    root = extract_chart_archive(packaged(FIXTURE_CHARTS / "good"), dest, LIMIT)
    assert root == (dest / "good").resolve()
    assert (root / "Chart.yaml").read_bytes() == (
        FIXTURE_CHARTS / "good" / "Chart.yaml"
    ).read_bytes()
    assert (root / "templates" / "tests" / "test-connection.yaml").is_file()


def test_dangerous_modes_are_stripped(tmp_path: Path) -> None:
    data = tgz(CHART_YAML, regular("web/run.sh", b"#!/bin/sh\n", mode=0o4777))
    root = extract_chart_archive(data, tmp_path / "dest", LIMIT)
    mode = (root / "run.sh").stat().st_mode
    assert not mode & stat.S_ISUID
    assert not mode & stat.S_IWOTH


@pytest.mark.asyncio
async def test_validate_a_packaged_chart() -> None:
    findings = await validate_chart_archive(
        local_tools(unpacked_max_bytes=LIMIT),
        packaged(FIXTURE_CHARTS / "bad-schema"),
        ValidationRequest(expected_name="bad-schema"),
    )
    assert [(f.rule, f.path) for f in findings] == [("schema", "spec.replicas")]


@pytest.mark.asyncio
async def test_an_unsafe_archive_becomes_a_finding() -> None:
    findings = await validate_chart_archive(
        local_tools(unpacked_max_bytes=LIMIT),
        tgz(CHART_YAML, special("web/etc", tarfile.SYMTYPE, "/etc")),
        ValidationRequest(expected_name="web"),
    )
    assert [(f.severity, f.rule) for f in findings] == [("error", "chart.source")]
    assert "'web/etc'" in findings[0].message
