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

from pymongo.errors import PyMongoError

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
from slipway_libs.jobs import Delivery, run_entity_job
from slipway_libs.messaging import (
    JOBS_STREAM,
    CommandProcessor,
    conflict_on,
    entity_reply,
    page_reply,
)
from slipway_libs.paths import resolve_inside_roots
from slipway_libs.process import ToolUnavailable
from slipway_libs.storage import (
    Database,
    Repository,
    UnitOfWork,
    change,
    deadline_in,
    expire_overdue,
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
        run: Callable[[], Awaitable[dict[str, Any]]],
    ) -> dict[str, Any]:
        """Run a command that may have stored an archive; drop the archive unless kept."""
        taken = Conflict(
            f"a chart named '{command.name}' already exists in namespace '{command.namespace}'",
            {"namespace": command.namespace, "name": command.name},
        )
        try:
            with conflict_on(UNIQUE_NAME_INDEX, taken):
                reply = await run()
        except Unavailable:
            # The commit may have gone through unacknowledged: dropping the archive could
            # strand a committed chart. The orphan sweep removes it if nothing refers to it.
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

        return await self._run_storing(
            command, archive_id, lambda: self.processor.run(command, action)
        )

    async def update(self, command: UpdateChart) -> dict[str, Any]:
        spec = ChartSpec.model_validate(command.model_dump(include=set(ChartSpec.model_fields)))
        source, archive_id = await self._store_source(spec)
        replaced: list[str] = []

        async def respecify(uow: UnitOfWork, chart: HelmChartAggregate) -> None:
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

        reply = await self._run_storing(
            command, archive_id, lambda: self.processor.run_on(command, self.charts, respecify)
        )
        for old in replaced:
            await self.archives.drop(old)
        return reply

    async def delete(self, command: DeleteChart) -> dict[str, Any]:
        async def remove(uow: UnitOfWork, chart: HelmChartAggregate) -> None:
            chart.mark_deleted()
            await self.charts.save(uow, chart)

        reply = await self.processor.run_on(command, self.charts, remove)
        archive_id = ((reply.get("data") or {}).get("source") or {}).get("archive_id")
        if reply["ok"] and archive_id:
            await self.archives.drop(archive_id)
        return reply

    async def validate(self, command: ValidateChart) -> dict[str, Any]:
        async def revalidate(uow: UnitOfWork, chart: HelmChartAggregate) -> None:
            chart.revalidate(
                validation_id=context.new_id(),
                deadline=deadline_in(self.settings.validation_timeout_s),
            )
            await self.charts.save(uow, chart)
            await self._queue_validation(uow, chart)

        return await self.processor.run_on(command, self.charts, revalidate)

    # --- queries --------------------------------------------------------------

    async def get(self, query: GetEntity) -> dict[str, Any]:
        return await entity_reply(self.charts, query.id)

    async def list(self, query: ListEntities) -> dict[str, Any]:
        return await page_reply(self.charts, query)

    # --- jobs -----------------------------------------------------------------

    async def run_validation(self, job: ValidateChartJob, msg: Delivery, attempt: int) -> None:
        """Validate one chart; a job for a deleted, changed or judged chart changes nothing."""

        async def validate(chart: HelmChartAggregate) -> None:
            findings = await self._validate(chart.state)
            await change(self.charts, chart.id, lambda c: c.verdict(job.validation_id, findings))

        await run_entity_job(
            msg,
            attempt,
            self.settings,
            self.charts,
            job.chart_id,
            current=lambda c: c.is_current_validation(job.validation_id),
            work=validate,
            failed=lambda c, reason: c.validation_failed(job.validation_id, reason),
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
        return await expire_overdue(
            self.charts, HelmChartAggregate.expire, {"status": ChartStatus.VALIDATING}
        )
