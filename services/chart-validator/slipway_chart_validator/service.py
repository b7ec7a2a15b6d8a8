"""The chart-validator's use cases: each loads a chart, calls one domain method, saves."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import tempfile
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from pymongo.errors import DuplicateKeyError, PyMongoError

from slipway_chart_validator.adapters.archive import UnsafeArchive, extract_chart_archive
from slipway_chart_validator.adapters.archive_store import ArchiveStore
from slipway_chart_validator.adapters.helm import Helm
from slipway_chart_validator.domain.chart import HelmChartAggregate
from slipway_chart_validator.settings import ChartValidatorSettings
from slipway_chart_validator.validation import validate_chart_archive, validate_chart_path
from slipway_contracts import subjects
from slipway_contracts.commands import (
    ChartSpec,
    DeleteChart,
    RegisterChart,
    UpdateChart,
    ValidateChart,
)
from slipway_contracts.entities import ChartSourceRef, ChartStatus, Finding, HelmChart
from slipway_contracts.jobs import ValidateChartJob
from slipway_contracts.queries import GetEntity, ListEntities
from slipway_libs import context
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import Conflict, InvalidInput, RetryableError, Unavailable
from slipway_libs.jobs import Delivery, run_job
from slipway_libs.messaging import JOBS_STREAM, CommandProcessor, ok
from slipway_libs.paths import resolve_inside_roots
from slipway_libs.process import ToolUnavailable
from slipway_libs.storage import (
    Database,
    Repository,
    UnitOfWork,
    change,
    check_if_match,
    deadline_in,
    unavailable_from,
)

log = logging.getLogger(__name__)

Charts = Repository[HelmChartAggregate]
Findings = list[Finding]  # named here: the class's `list` method shadows the builtin inside it
UNIQUE_NAME_INDEX = "namespace_name_unique"


class ChartService:
    def __init__(
        self,
        settings: ChartValidatorSettings,
        database: Database,
        charts: Charts,
        archives: ArchiveStore,
        helm: Helm,
    ) -> None:
        self.settings = settings
        self.database = database
        self.charts = charts
        self.archives = archives
        self.helm = helm
        self.rules = settings.rule_config
        self.processor = CommandProcessor(database)

    # --- checks ---------------------------------------------------------------

    def _decode_archive(self, encoded: str) -> bytes:
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidInput.field("source.archive", "is not valid base64") from exc
        if len(data) > self.settings.archive_max_bytes:
            raise InvalidInput.field(
                "source.archive",
                f"the archive is {len(data)} bytes, over the "
                f"{self.settings.archive_max_bytes} bytes allowed",
            )
        return data

    def _check_archive(self, data: bytes) -> None:
        """Unpack into a throw-away directory: an unsafe archive is refused before it is kept."""
        with tempfile.TemporaryDirectory(prefix="slipway-upload-") as workdir:
            try:
                extract_chart_archive(data, Path(workdir), self.settings.unpacked_max_bytes)
            except UnsafeArchive as exc:
                raise InvalidInput.field("source.archive", str(exc)) from exc

    async def _store_source(self, spec: ChartSpec) -> tuple[ChartSourceRef, str | None]:
        """The source as the entity keeps it, and the id of an archive stored for it."""
        if spec.source.path is not None:
            resolve_inside_roots(spec.source.path, self.settings.chart_roots, "source.path")
            return ChartSourceRef(path=spec.source.path), None
        data = self._decode_archive(spec.source.archive or "")
        await asyncio.to_thread(self._check_archive, data)
        archive_id = context.new_id()
        await self.archives.put(archive_id, f"{spec.name}-{spec.version}.tgz", data)
        ref = ChartSourceRef(
            archive_id=archive_id,
            archive_size=len(data),
            archive_sha256=hashlib.sha256(data).hexdigest(),
        )
        return ref, archive_id

    async def _queue_validation(self, uow: UnitOfWork, chart: HelmChartAggregate) -> None:
        job = ValidateChartJob(chart_id=chart.id, validation_id=chart.state.validation_id or "")
        await uow.add_outbox(
            subject=subjects.job(subjects.HELM_CHART, "validate"),
            stream=JOBS_STREAM,
            payload=job.model_dump(),
            msg_id=job.validation_id,
        )

    async def _run_storing(
        self,
        command: ChartSpec,
        archive_id: str | None,
        action: Callable[[UnitOfWork], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """Run a command that may have stored an archive; drop the archive unless kept."""
        try:
            reply = await self.processor.run(command, action)
        except Unavailable:
            # The commit may have gone through unacknowledged: dropping the archive could
            # strand a committed chart. The orphan sweep removes it if nothing refers to it.
            raise
        except DuplicateKeyError as exc:
            if archive_id:
                await self.archives.drop(archive_id)
            if UNIQUE_NAME_INDEX in str(exc):
                raise Conflict(
                    f"a chart named '{command.name}' already exists in namespace "
                    f"'{command.namespace}'",
                    {"namespace": command.namespace, "name": command.name},
                ) from exc
            raise
        except Exception:
            if archive_id:
                await self.archives.drop(archive_id)
            raise
        kept = (reply.get("data") or {}).get("source") or {}
        if archive_id and kept.get("archive_id") != archive_id:
            await self.archives.drop(archive_id)  # a replayed command: the first upload is kept
        return reply

    # --- commands -------------------------------------------------------------

    async def create(self, command: RegisterChart) -> dict[str, Any]:
        source, archive_id = await self._store_source(command)

        async def action(uow: UnitOfWork) -> dict[str, Any]:
            chart = HelmChartAggregate.register(
                command,
                source,
                chart_id=context.new_id(),
                validation_id=context.new_id(),
                deadline=deadline_in(self.settings.validation_timeout_s),
            )
            await self.charts.save(uow, chart)
            await self._queue_validation(uow, chart)
            return chart.state.snapshot()

        return await self._run_storing(command, archive_id, action)

    async def update(self, command: UpdateChart) -> dict[str, Any]:
        spec = ChartSpec.model_validate(command.model_dump(include=set(ChartSpec.model_fields)))
        source, archive_id = await self._store_source(spec)
        replaced: list[str] = []

        async def action(uow: UnitOfWork) -> dict[str, Any]:
            chart = await self.charts.get(command.id, uow)
            check_if_match(chart, command.expected_revision)
            previous = chart.state.source.archive_id if chart.state.source else None
            chart.respecify(
                spec,
                source,
                validation_id=context.new_id(),
                deadline=deadline_in(self.settings.validation_timeout_s),
            )
            await self.charts.save(uow, chart)
            await self._queue_validation(uow, chart)
            replaced[:] = [previous] if previous else []
            return chart.state.snapshot()

        reply = await self._run_storing(command, archive_id, action)
        for old in replaced:
            await self.archives.drop(old)
        return reply

    async def delete(self, command: DeleteChart) -> dict[str, Any]:
        async def action(uow: UnitOfWork) -> dict[str, Any]:
            chart = await self.charts.get(command.id, uow)
            check_if_match(chart, command.expected_revision)
            chart.mark_deleted()
            await self.charts.save(uow, chart)
            return chart.state.snapshot()

        reply = await self.processor.run(command, action)
        archive_id = ((reply.get("data") or {}).get("source") or {}).get("archive_id")
        if reply["ok"] and archive_id:
            await self.archives.drop(archive_id)
        return reply

    async def validate(self, command: ValidateChart) -> dict[str, Any]:
        async def action(uow: UnitOfWork) -> dict[str, Any]:
            chart = await self.charts.get(command.id, uow)
            check_if_match(chart, command.expected_revision)
            chart.revalidate(
                validation_id=context.new_id(),
                deadline=deadline_in(self.settings.validation_timeout_s),
            )
            await self.charts.save(uow, chart)
            await self._queue_validation(uow, chart)
            return chart.state.snapshot()

        return await self.processor.run(command, action)

    # --- queries --------------------------------------------------------------

    async def get(self, query: GetEntity) -> dict[str, Any]:
        return ok((await self.charts.get(query.id)).state.snapshot())

    async def list(self, query: ListEntities) -> dict[str, Any]:
        items, cursor = await self.charts.list(
            status=query.status, cursor=query.cursor, limit=query.limit
        )
        return ok({"items": [i.snapshot() for i in items], "next_cursor": cursor})

    # --- jobs -----------------------------------------------------------------

    async def _change(self, chart_id: str, apply: Callable[[HelmChartAggregate], object]) -> None:
        await change(self.charts, chart_id, apply)

    async def run_validation(self, job: ValidateChartJob, msg: Delivery, attempt: int) -> None:
        chart = await self.charts.find(job.chart_id)
        if chart is None or not chart.is_current_validation(job.validation_id):
            await msg.ack()  # deleted, changed since, or already judged: nothing to do
            return

        async def work() -> None:
            findings = await self._validate(chart.state)
            await self._change(chart.id, lambda c: c.verdict(job.validation_id, findings))

        async def give_up(reason: str) -> None:
            await self._change(chart.id, lambda c: c.validation_failed(job.validation_id, reason))

        await run_job(
            msg,
            work=work,
            give_up=give_up,
            attempt=attempt,
            max_attempts=self.settings.job_max_deliver,
            heartbeat_s=max(self.settings.job_ack_wait_s / 3, 0.2),
        )

    async def _validate(self, chart: HelmChart) -> Findings:
        """Run the validation pipeline on the chart's source; helm missing is retryable."""
        options: dict[str, Any] = {
            "expected_name": chart.name,
            "expected_version": chart.version,
            "values": chart.values,
            "kubernetes_version": chart.kubernetes_version,
            "rules": self.rules,
            "helm": self.helm,
        }
        source = chart.source or ChartSourceRef()
        try:
            if source.archive_id:
                data = await self.archives.read(source.archive_id)
                found = await validate_chart_archive(
                    data, max_bytes=self.settings.unpacked_max_bytes, **options
                )
            else:
                found = await validate_chart_path(
                    source.path or "", self.settings.chart_roots, **options
                )
        except ToolUnavailable as exc:
            raise RetryableError(f"helm cannot run: {exc}") from exc
        return [Finding.model_validate(f.as_dict()) for f in found]

    # --- reconciliation ---------------------------------------------------------

    async def _referenced_archives(self, archive_ids: Sequence[str]) -> set[str]:
        try:
            found = await self.charts.collection.distinct(
                "source.archive_id", {"source.archive_id": {"$in": [*archive_ids]}}
            )
        except PyMongoError as exc:
            raise unavailable_from(exc) from exc
        return set(found)

    async def sweep_orphan_archives(self) -> int:
        """Remove stored archives no chart refers to, once older than the grace period.

        An archive is stored before its chart commits, so a young unreferenced one may
        belong to a command still running: only those past `archive_orphan_grace_s` go.
        They are left by a command that failed after storing, a process that died before
        it dropped a replaced or deleted chart's archive, or a commit of unknown outcome.
        """
        cutoff = utcnow() - timedelta(seconds=self.settings.archive_orphan_grace_s)
        removed = 0
        async for batch in self.archives.stored_before(cutoff):
            referenced = await self._referenced_archives(batch)
            for archive_id in batch:
                if archive_id not in referenced:
                    await self.archives.drop(archive_id)
                    removed += 1
        if removed:
            log.info("removed orphaned chart archives", extra={"count": removed})
        return removed

    async def expire_overdue(self) -> int:
        """Fail every validation still running past its deadline."""
        now = utcnow()
        items, _ = await self.charts.list(
            status=ChartStatus.VALIDATING,
            cursor=None,
            limit=500,
            extra={"deadline": {"$lt": now}},
        )
        for state in items:
            await self._change(state.id, lambda c: c.expire(now))
        return len(items)
