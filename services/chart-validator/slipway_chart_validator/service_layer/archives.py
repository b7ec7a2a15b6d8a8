"""Chart sources: a path checked against the chart roots, or an uploaded archive checked
and stored before its chart commits. An archive no chart keeps is dropped; one a crash left
behind is swept."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hashlib
import logging
import tempfile
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

from slipway_chart_validator.domain.ports import ChartSource, UnsafeArchive
from slipway_chart_validator.service_layer.dependencies import Dependencies
from slipway_contracts.commands import ChartSpec
from slipway_contracts.entities import ChartSourceRef
from slipway_libs import context
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import InvalidInput, Unavailable
from slipway_libs.paths import resolve_inside_roots

log = logging.getLogger(__name__)


def _decoded(encoded: str, max_bytes: int) -> bytes:
    try:
        data = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput.field("source.archive", "is not valid base64") from exc
    if len(data) > max_bytes:
        raise InvalidInput.field(
            "source.archive",
            f"the archive is {len(data)} bytes, over the {max_bytes} bytes allowed",
        )
    return data


def _check_unpacks(source: ChartSource, data: bytes) -> None:
    """Unpack into a throw-away directory: an unsafe archive is refused before it is kept."""
    with tempfile.TemporaryDirectory(prefix="slipway-upload-") as workdir:
        try:
            source.unpack(data, Path(workdir))
        except UnsafeArchive as exc:
            raise InvalidInput.field("source.archive", str(exc)) from exc


async def store_source(deps: Dependencies, spec: ChartSpec) -> ChartSourceRef:
    """The source as the chart keeps it: the path, once it is a directory inside the chart
    roots; or the uploaded archive, once it decodes, fits and unpacks safely, stored under
    a new id. A refusal is InvalidInput naming `source.path` or `source.archive`."""
    settings = deps.settings
    if spec.source.path is not None:
        resolve_inside_roots(spec.source.path, settings.chart_roots, "source.path")
        return ChartSourceRef(path=spec.source.path)
    data = _decoded(spec.source.archive or "", settings.archive_max_bytes)
    await asyncio.to_thread(_check_unpacks, deps.tools.source, data)
    archive_id = context.new_id()
    await deps.archives.put(archive_id, f"{spec.name}-{spec.version}.tgz", data)
    return ChartSourceRef(
        archive_id=archive_id,
        archive_size=len(data),
        archive_sha256=hashlib.sha256(data).hexdigest(),
    )


@contextlib.asynccontextmanager
async def dropped_on_failure(deps: Dependencies, source: ChartSourceRef) -> AsyncIterator[None]:
    """Drop the archive stored for a command whose transaction failed.

    Not on Unavailable: the commit may have gone through unacknowledged, and dropping the
    archive could strand a committed chart. The orphan sweep removes it if nothing refers
    to it.
    """
    try:
        yield
    except Unavailable:
        raise
    except Exception:
        if source.archive_id:
            await deps.archives.drop(source.archive_id)
        raise


async def sweep_orphan_archives(deps: Dependencies) -> int:
    """Remove stored archives no chart refers to, once older than the grace period; how
    many it removed.

    An archive is stored before its chart commits, so a young unreferenced one may belong
    to a command still running: only those past `archive_orphan_grace_s` go. They are left
    by a command that failed after storing, a process that died before it dropped a
    replaced or deleted chart's archive, or a commit of unknown outcome.
    """
    cutoff = utcnow() - timedelta(seconds=deps.settings.archive_orphan_grace_s)
    removed = 0
    async for batch in deps.archives.stored_before(cutoff):
        referenced = await deps.charts.distinct("source.archive_id")
        for archive_id in batch:
            if archive_id not in referenced:
                await deps.archives.drop(archive_id)
                removed += 1
    if removed:
        log.info("removed orphaned chart archives", extra={"count": removed})
    return removed
