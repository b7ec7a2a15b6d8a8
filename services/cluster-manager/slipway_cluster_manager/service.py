"""The cluster-manager's use cases: each loads a cluster, calls one domain method, saves.

Commands answer at once; starts, stops and restarts run as ClusterOperationJobs from
SLIPWAY_JOBS (queued through the outbox with the command's write). A health monitor
probes the clusters between operations, and a deadline sweep ends every operation that
outlives its deadline.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from slipway_cluster_manager.adapters.kubeconfig_driver import default_kubeconfig_path
from slipway_cluster_manager.adapters.kubeconfig_file import (
    KubeconfigError,
    load_kubeconfig,
    minify_kubeconfig,
    server_of,
)
from slipway_cluster_manager.adapters.sim_driver import IMAGE_NOT_FOUND
from slipway_cluster_manager.domain.capabilities import (
    HostCapabilities,
    minimums_for,
    validate_cluster_request,
)
from slipway_cluster_manager.domain.cluster import Action, ClusterAggregate, overdue_reason
from slipway_cluster_manager.domain.ports import (
    ClusterDriver,
    DriverError,
    InvalidClusterSpec,
    PermanentDriverError,
    ProbeResult,
)
from slipway_cluster_manager.domain.ports import ClusterSpec as DriverSpec
from slipway_cluster_manager.settings import ClusterManagerSettings
from slipway_contracts import subjects
from slipway_contracts.commands import (
    ClusterAction,
    CreateCluster,
    DeleteCluster,
    LoadImage,
    RestartCluster,
    StartCluster,
    StopCluster,
)
from slipway_contracts.entities import ClusterDriverName, ClusterOperation, MinikubeCluster
from slipway_contracts.jobs import ClusterOperationJob
from slipway_contracts.queries import GetEntity, GetKubeconfig, ListEntities
from slipway_libs import context
from slipway_libs.aggregate import utcnow
from slipway_libs.errors import (
    Conflict,
    InvalidInput,
    PermanentError,
    RetryableError,
    SlipwayError,
    Unavailable,
)
from slipway_libs.jobs import Delivery, run_entity_job
from slipway_libs.messaging import (
    JOBS_STREAM,
    CommandProcessor,
    conflict_on,
    entity_reply,
    ok,
    page_reply,
)
from slipway_libs.storage import (
    Database,
    Repository,
    UnitOfWork,
    change,
    deadline_in,
    expire_overdue,
    matching,
)
from slipway_libs.unit_of_work import ConcurrentWrite, check_if_match

log = logging.getLogger(__name__)

Clusters = Repository[ClusterAggregate]
Progress = Callable[[str, str, list[str]], Awaitable[None]]
"""Publishes live progress: (cluster id, operation id, lines)."""
UNIQUE_NAME_INDEX = "name_unique"
OPERATE = subjects.job(subjects.MINIKUBE_CLUSTER, "operate")


def driver_failure(error: DriverError) -> SlipwayError:
    """The reply error for a driver failure during a command (not a job)."""
    if isinstance(error, InvalidClusterSpec):
        return InvalidInput.field(error.field, error.message.split(": ", 1)[-1])
    if error.code == IMAGE_NOT_FOUND:
        return InvalidInput.field("image", error.message)
    if error.retryable:
        return Unavailable(error.message)
    return Conflict(error.message, {"driver_code": error.code} if error.code else None)


class ClusterService:
    def __init__(
        self,
        settings: ClusterManagerSettings,
        database: Database,
        clusters: Clusters,
        drivers: Mapping[str, ClusterDriver],
        host: Callable[[], HostCapabilities],
        progress: Progress,
    ) -> None:
        self.settings = settings
        self.database = database
        self.clusters = clusters
        self.drivers = drivers
        self.host = host
        self.progress = progress
        self.processor = CommandProcessor(database)

    # --- drivers --------------------------------------------------------------

    def driver_for(self, cluster: MinikubeCluster) -> ClusterDriver:
        return self.drivers[str(cluster.driver)]

    def driver_spec(self, cluster: MinikubeCluster) -> DriverSpec:
        """What the cluster's driver needs to know; its files live in clusters_dir/<name>."""
        extra: dict[str, str] = {}
        if cluster.kubeconfig:
            extra["kubeconfig"] = cluster.kubeconfig
        if cluster.context:
            extra["context"] = cluster.context
        return DriverSpec(
            name=cluster.name,
            driver=str(cluster.driver),
            cpus=cluster.cpus,
            memory_mb=cluster.memory,
            disk_size_mb=cluster.disk_size,
            kubernetes_version=cluster.kubernetes_version,
            state_dir=self.settings.clusters_dir / cluster.name,
            extra=extra,
        )

    async def _api_server(self, cluster: MinikubeCluster) -> str | None:
        """The API server URL of the cluster's kubeconfig (None if it cannot be read)."""
        try:
            return server_of(await self.driver_for(cluster).kubeconfig(self.driver_spec(cluster)))
        except DriverError as error:
            log.warning("no kubeconfig for cluster %s: %s", cluster.name, error.message)
            return None

    # --- checks ---------------------------------------------------------------

    def _check_spec(self, command: CreateCluster) -> CreateCluster:
        """The request as it will be kept, or InvalidInput naming every bad field."""
        if command.driver is ClusterDriverName.KUBECONFIG:
            return self._check_attachment(command)
        for field in ("kubeconfig", "context"):
            if getattr(command, field) is not None:
                raise InvalidInput.field(field, "is only for clusters with driver 'kubeconfig'")
        host = self.host()
        errors = validate_cluster_request(
            name=command.name,
            cpus=command.cpus,
            memory_mb=command.memory,
            disk_size_mb=command.disk_size,
            kubernetes_version=command.kubernetes_version,
            host=host,
            minimums=minimums_for(str(command.driver)),
        )
        if errors:
            raise InvalidInput(
                "invalid input: " + "; ".join(str(e) for e in errors),
                [{"field": e.field, "message": e.message} for e in errors],
            )
        return command

    def _check_attachment(self, command: CreateCluster) -> CreateCluster:
        """An attached cluster needs a readable kubeconfig with the named context."""
        if command.start:
            raise InvalidInput.field(
                "start",
                "an attached cluster is not started by Slipway; it turns running once its "
                "API server answers a health probe",
            )
        path = Path(command.kubeconfig).expanduser() if command.kubeconfig else None
        if path is not None and not path.is_absolute():
            raise InvalidInput.field(
                "kubeconfig", f"'{command.kubeconfig}' is not an absolute path"
            )
        path = path or default_kubeconfig_path()
        try:
            document = load_kubeconfig(path)
        except KubeconfigError as error:
            raise InvalidInput.field("kubeconfig", str(error)) from None
        try:
            minified = minify_kubeconfig(document, command.context, base_dir=path.parent)
        except KubeconfigError as error:
            field = "context" if command.context else "kubeconfig"
            raise InvalidInput.field(field, str(error)) from None
        return command.model_copy(
            update={"kubeconfig": str(path), "context": minified["current-context"]}
        )

    # --- commands -------------------------------------------------------------

    async def _queue_operation(self, uow: UnitOfWork, cluster: ClusterAggregate) -> None:
        operation = cluster.state.operation
        assert operation is not None
        job = ClusterOperationJob(
            cluster_id=cluster.id, operation_id=operation.id, action=operation.action
        )
        await uow.add_outbox(
            subject=OPERATE, stream=JOBS_STREAM, payload=job.model_dump(), msg_id=operation.id
        )

    def _operation(self, driver: str, action: Action) -> ClusterOperation:
        return ClusterOperation(
            id=context.new_id(),
            action=action,
            started_at=utcnow(),
            deadline=deadline_in(self.settings.deadline_s(driver, action)),
        )

    async def create(self, command: CreateCluster) -> dict[str, Any]:
        checked = self._check_spec(command)

        async def action(uow: UnitOfWork) -> dict[str, Any]:
            start = self._operation(checked.driver, "start") if checked.start else None
            cluster = ClusterAggregate.register(checked, cluster_id=context.new_id(), start=start)
            await self.clusters.save(uow, cluster)
            if start is not None:
                await self._queue_operation(uow, cluster)
            return cluster.state.snapshot()

        taken = Conflict(f"a cluster named '{command.name}' already exists", {"name": command.name})
        with conflict_on(UNIQUE_NAME_INDEX, taken):
            return await self.processor.run(command, action)

    async def _begin(self, command: ClusterAction, action: Action) -> dict[str, Any]:
        async def begin(uow: UnitOfWork, cluster: ClusterAggregate) -> None:
            cluster.begin(
                action,
                operation_id=context.new_id(),
                deadline=deadline_in(self.settings.deadline_s(cluster.state.driver, action)),
            )
            await self.clusters.save(uow, cluster)
            await self._queue_operation(uow, cluster)

        return await self.processor.run_on(command, self.clusters, begin)

    async def start(self, command: StartCluster) -> dict[str, Any]:
        return await self._begin(command, "start")

    async def stop(self, command: StopCluster) -> dict[str, Any]:
        return await self._begin(command, "stop")

    async def restart(self, command: RestartCluster) -> dict[str, Any]:
        return await self._begin(command, "restart")

    async def delete(self, command: DeleteCluster) -> dict[str, Any]:
        """Remove the cluster from its backend (stopping it first), then the record."""
        found = await self.clusters.find(command.id)
        if found is not None:  # None: gone, or a repeated command whose reply is kept
            check_if_match(found, command.expected_revision)
            found.check_deletable()
            await self._remove_from_backend(found)

        async def remove(uow: UnitOfWork, cluster: ClusterAggregate) -> None:
            cluster.check_deletable()
            cluster.mark_deleted()
            await self.clusters.save(uow, cluster)

        return await self.processor.run_on(command, self.clusters, remove)

    async def _remove_from_backend(self, cluster: ClusterAggregate) -> None:
        driver, spec = self.driver_for(cluster.state), self.driver_spec(cluster.state)
        if not cluster.attached and cluster.status != "stopped":
            try:
                await driver.stop(spec)
            except DriverError as error:  # delete removes a running cluster all the same
                log.warning("stop before delete of %s failed: %s", cluster.name, error.message)
        try:
            await driver.delete(spec)
        except DriverError as error:
            raise driver_failure(error) from None

    async def load_image(self, command: LoadImage) -> dict[str, Any]:
        """Make a local image available to a running cluster (before a rollout uses it)."""
        cluster = await self.clusters.get(command.id)
        cluster.require_running(f"load the image {command.image} into it")
        try:
            await self.driver_for(cluster.state).load_image(
                self.driver_spec(cluster.state), command.image
            )
        except DriverError as error:
            raise driver_failure(error) from None
        return ok({"id": cluster.id, "name": cluster.name, "image": command.image})

    # --- queries --------------------------------------------------------------

    async def get(self, query: GetEntity) -> dict[str, Any]:
        return await entity_reply(self.clusters, query.id)

    async def list(self, query: ListEntities) -> dict[str, Any]:
        return await page_reply(self.clusters, query)

    async def kubeconfig(self, query: GetKubeconfig) -> dict[str, Any]:
        """The running cluster's self-contained kubeconfig (YAML text), for kubectl."""
        cluster = await self.clusters.get(query.id)
        cluster.require_running("hand out its kubeconfig")
        try:
            text = await self.driver_for(cluster.state).kubeconfig(self.driver_spec(cluster.state))
        except DriverError as error:
            raise driver_failure(error) from None
        return ok(
            {
                "id": cluster.id,
                "name": cluster.name,
                "api_server": server_of(text),
                "kubeconfig": text,
            }
        )

    # --- jobs -----------------------------------------------------------------

    async def run_operation(self, job: ClusterOperationJob, msg: Delivery, attempt: int) -> None:
        """Carry out a start, stop or restart; it ends running, stopped or error. A job for
        a deleted cluster, or an operation expired or finished, changes nothing."""
        operation_id = job.operation_id

        async def work(cluster: ClusterAggregate) -> None:
            state, operation = cluster.state, cluster.state.operation
            assert operation is not None  # the job is current: its operation is in flight
            remaining = (operation.deadline - utcnow()).total_seconds()
            try:
                async with asyncio.timeout(max(remaining, 0.0)) as limit:
                    api_server = await self._operate(state, operation)
            except TimeoutError:
                if limit.expired():
                    raise PermanentError(overdue_reason(operation)) from None
                raise
            except PermanentDriverError as error:
                raise PermanentError(error.message) from None
            except DriverError as error:
                raise RetryableError(error.message) from None
            await change(
                self.clusters,
                state.id,
                lambda c: c.operation_succeeded(operation_id, api_server=api_server),
            )

        await run_entity_job(
            msg,
            attempt,
            self.settings,
            self.clusters,
            job.cluster_id,
            current=lambda c: c.is_current_operation(operation_id),
            work=work,
            failed=lambda c, reason: c.operation_failed(operation_id, reason),
        )

    async def _operate(self, cluster: MinikubeCluster, operation: ClusterOperation) -> str | None:
        """Run the driver for one operation, keeping its progress; the API server after."""
        driver, spec = self.driver_for(cluster), self.driver_spec(cluster)
        pending: list[str] = []

        async def on_line(line: str) -> None:
            pending.append(line)

        async def flush() -> None:
            batch = pending[:]
            del pending[: len(batch)]
            if batch:
                await change(
                    self.clusters, cluster.id, lambda c: c.record_progress(operation.id, batch)
                )
                await self.progress(cluster.id, operation.id, batch)

        async def keep_flushing() -> None:
            while True:
                await asyncio.sleep(self.settings.progress_flush_s)
                try:
                    await flush()
                except (Unavailable, ConcurrentWrite) as error:  # progress is best effort
                    log.warning("progress of %s not stored: %s", cluster.name, error)

        flusher = asyncio.create_task(keep_flushing())
        try:
            if operation.action in ("stop", "restart"):
                await driver.stop(spec)
            if operation.action == "restart":
                await change(
                    self.clusters, cluster.id, lambda c: c.stopped_for_restart(operation.id)
                )
            if operation.action in ("start", "restart"):
                await driver.start(spec, on_line)
        finally:
            flusher.cancel()
            try:
                await asyncio.shield(flush())
            except (Unavailable, ConcurrentWrite) as error:
                log.warning("progress of %s not stored: %s", cluster.name, error)
        if operation.action == "stop":
            return None
        return await self._api_server(cluster)

    # --- reconciliation ---------------------------------------------------------

    async def expire_overdue(self) -> int:
        """End every operation still in flight past its deadline in `error`."""
        return await expire_overdue(
            self.clusters, ClusterAggregate.expire, deadline="operation.deadline"
        )

    async def probe_all(self) -> int:
        """Probe every cluster between operations: running and errored ones, and attached
        ones whatever their status; returns how many changed status."""
        query = {
            "operation": None,
            "$or": [
                {"status": {"$in": ["running", "error"]}},
                {"driver": str(ClusterDriverName.KUBECONFIG)},
            ],
        }
        states = [cluster.state for cluster in await matching(self.clusters, query)]
        limit = asyncio.Semaphore(self.settings.probe_concurrency)

        async def probe(state: MinikubeCluster) -> bool:
            async with limit:
                return await self._probe_one(state)

        changed = await asyncio.gather(*(probe(s) for s in states))
        return sum(changed)

    async def _probe_one(self, state: MinikubeCluster) -> bool:
        result = await self._observe(state)
        healthy = result.status == "running"
        reason = result.reason
        if not healthy and not reason:
            parts = ", ".join(f"{k}: {v}" for k, v in result.components.items())
            reason = f"the cluster is {result.status} (not through Slipway)" + (
                f"; {parts}" if parts else ""
            )
        seen = state.revision
        # Decide on the snapshot first: most probes change nothing and write nothing.
        if not ClusterAggregate(state, loaded_revision=seen).observe(
            healthy=healthy, reason=reason, seen_revision=seen
        ):
            return False
        api_server = await self._api_server(state) if healthy else None
        try:
            await change(
                self.clusters,
                state.id,
                lambda c: c.observe(
                    healthy=healthy, reason=reason, seen_revision=seen, api_server=api_server
                ),
            )
        except ConcurrentWrite:
            return False  # another replica (or an operation) got there first
        log.info(
            "health probe: cluster %s is %s",
            state.name,
            "running again" if healthy else "failing",
            extra={"reason": reason},
        )
        return True

    async def _observe(self, state: MinikubeCluster) -> ProbeResult:
        """The driver's probe, bounded in time; a probe that cannot run says why."""
        deadline = self.settings.probe_timeout_s * 2
        try:
            async with asyncio.timeout(deadline):
                return await self.driver_for(state).probe(self.driver_spec(state))
        except TimeoutError:
            return ProbeResult("error", f"the health probe got no answer within {deadline:g} s")
        except DriverError as error:
            return ProbeResult("error", f"the health probe could not run: {error.message}")
