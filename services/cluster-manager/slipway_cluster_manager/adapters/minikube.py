"""The `minikube` cluster driver: the real minikube CLI, one minikube profile per cluster.

Commands (run without a shell, every argument validated first):

    minikube start -p NAME --driver D --cpus N --memory Nmb --disk-size Nmb
                   --kubernetes-version vX.Y.Z --embed-certs --interactive=false
    minikube stop -p NAME
    minikube delete -p NAME
    minikube status -p NAME -o json
    minikube update-context -p NAME
    minikube image load IMAGE|/abs/archive.tar|- -p NAME

Kubeconfig: each cluster gets its own kubeconfig file, `<state_dir>/kubeconfig`, passed
to every command as `KUBECONFIG`. minikube writes the cluster's context there (with
`--embed-certs`, so it is self-contained), `status` checks it, `update-context` repairs
it. The user's ~/.kube/config is never touched, and `kubeconfig()` needs no kubectl: it
runs `update-context` (the API server's address can change across restarts), then cuts
the profile's context out of that file.

Progress: every stdout/stderr line of `start` goes to the progress callback. minikube
prints emoji prefixes only for terminals unless `MINIKUBE_IN_STYLE` says otherwise; it
is set so the lines read as users know them ("🏄  Done! kubectl is now configured ...").

Errors: see `minikube_codes` for the documented exit codes and their classification.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

from slipway_cluster_manager.adapters import minikube_codes as codes
from slipway_cluster_manager.adapters.kubeconfig_file import KubeconfigError, extract_context
from slipway_cluster_manager.domain.ports import (
    ClusterSpec,
    DriverError,
    ImageTar,
    InvalidClusterSpec,
    PermanentDriverError,
    ProbeResult,
    Progress,
    TemporaryDriverError,
)
from slipway_libs.process import ProcessResult, ToolTimeout, ToolUnavailable, run_tool

log = logging.getLogger(__name__)

# minikube's own profile rule (start.go) intersected with a DNS-1123 label.
PROFILE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,61}[a-z0-9]$")
KUBERNETES_VERSION = re.compile(r"^v\d+\.\d+\.\d+$")
VM_DRIVER = re.compile(r"^[a-z][a-z0-9]{0,31}$")
# Argument hygiene, not naming policy (the image-builder owns that): no leading "-",
# no whitespace or control characters.
IMAGE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/:@+-]{0,511}$")

DEFAULT_VM_DRIVER = "docker"
VM_DRIVER_KEY = "minikube_driver"


class MinikubeDriver:
    """Drives clusters through the minikube CLI (see the module docstring)."""

    def __init__(
        self,
        *,
        executable: str = "minikube",
        minikube_home: Path | None = None,
        default_vm_driver: str = DEFAULT_VM_DRIVER,
        start_timeout: float = 1200.0,
        command_timeout: float = 300.0,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        """`executable`: name on PATH or a path; `minikube_home`: MINIKUBE_HOME for the
        CLI (None keeps the inherited one); `default_vm_driver`: minikube's `--driver`
        unless a spec's extra["minikube_driver"] names one."""
        self.executable = executable
        self.minikube_home = minikube_home
        self.default_vm_driver = default_vm_driver
        self.start_timeout = start_timeout
        self.command_timeout = command_timeout
        self.extra_env = dict(extra_env or {})

    # -- the port -----------------------------------------------------------------

    async def start(self, spec: ClusterSpec, progress: Progress) -> None:
        argv = self.start_argv(spec)
        spec.state_dir.mkdir(parents=True, exist_ok=True)

        async def forward(line: str) -> None:
            try:
                await progress(line)
            except Exception:  # a lost progress line must not abort a start
                log.warning("progress callback failed for cluster %s", spec.name, exc_info=True)

        result = await self._run(spec, argv, timeout=self.start_timeout, on_line=forward)
        if result.exit_code != 0:
            raise self._failure("start", result)

    async def stop(self, spec: ClusterSpec) -> None:
        result = await self._run(spec, self.profile_argv(spec, "stop"))
        # No such profile: nothing is running, which is what stop is for.
        if result.exit_code not in (0, codes.EX_GUEST_NOT_FOUND):
            raise self._failure("stop", result)

    async def delete(self, spec: ClusterSpec) -> None:
        # minikube delete succeeds for a missing profile ("... profile does not exist,
        # trying anyways") and removes the profile's context from our kubeconfig.
        result = await self._run(spec, self.profile_argv(spec, "delete"))
        if result.exit_code not in (0, codes.EX_GUEST_NOT_FOUND):
            raise self._failure("delete", result)

    async def probe(self, spec: ClusterSpec) -> ProbeResult:
        argv = [*self.profile_argv(spec, "status"), "-o", "json"]
        result = await self._run(spec, argv)
        return codes.interpret_status(spec.name, result.exit_code, result.stdout, result.stderr)

    async def kubeconfig(self, spec: ClusterSpec) -> str:
        result = await self._run(spec, self.profile_argv(spec, "update-context"))
        if result.exit_code == codes.EX_GUEST_NOT_FOUND:
            raise PermanentDriverError(
                f'minikube has no profile "{spec.name}"; start the cluster first',
                code="PROFILE_NOT_FOUND",
            )
        if result.exit_code != 0:
            raise self._failure("update-context", result)
        try:
            return extract_context(self.kubeconfig_path(spec), spec.name)
        except KubeconfigError as error:
            raise PermanentDriverError(
                f"minikube did not write a usable kubeconfig for {spec.name}: {error}",
                code="KUBECONFIG",
            ) from None

    async def load_image(
        self, spec: ClusterSpec, image_ref: str, image_tar: ImageTar | None = None
    ) -> None:
        if not IMAGE_REF.match(image_ref):
            raise InvalidClusterSpec("image", f"{image_ref!r} is not an image reference")
        stdin: AsyncIterator[bytes] | None = None
        if image_tar is None:
            source = image_ref  # minikube looks in the host's Docker daemon, then registries
        elif isinstance(image_tar, Path):
            archive = image_tar.resolve()
            if not archive.is_file():
                raise PermanentDriverError(f"image archive {archive} does not exist")
            source = str(archive)  # absolute, so minikube reads it as a file (image.go)
        else:
            source, stdin = "-", image_tar
        argv = [self.executable, "image", "load", source, "-p", self._profile(spec)]
        result = await self._run(spec, argv, stdin=stdin)
        if result.exit_code != 0:
            raise self._failure(f"image load {image_ref}", result)

    # -- commands -----------------------------------------------------------------

    def kubeconfig_path(self, spec: ClusterSpec) -> Path:
        """The kubeconfig file minikube maintains for this cluster."""
        return spec.state_dir / "kubeconfig"

    def start_argv(self, spec: ClusterSpec) -> list[str]:
        """The exact `minikube start` command for `spec` (validated)."""
        vm_driver = spec.extra.get(VM_DRIVER_KEY, self.default_vm_driver)
        if not VM_DRIVER.match(vm_driver):
            raise InvalidClusterSpec(VM_DRIVER_KEY, f"{vm_driver!r} is not a minikube driver name")
        if not KUBERNETES_VERSION.match(spec.kubernetes_version):
            raise InvalidClusterSpec(
                "kubernetes_version",
                f"{spec.kubernetes_version!r} is not of the form vMAJOR.MINOR.PATCH",
            )
        return [
            self.executable,
            "start",
            "-p",
            self._profile(spec),
            "--driver",
            vm_driver,
            "--cpus",
            str(_positive_int("cpus", spec.cpus)),
            "--memory",
            f"{_positive_int('memory', spec.memory_mb)}mb",
            "--disk-size",
            f"{_positive_int('disk_size', spec.disk_size_mb)}mb",
            "--kubernetes-version",
            spec.kubernetes_version,
            "--embed-certs",
            "--interactive=false",
        ]

    def profile_argv(self, spec: ClusterSpec, command: str) -> list[str]:
        """`minikube <command> -p <profile>`."""
        return [self.executable, command, "-p", self._profile(spec)]

    def _profile(self, spec: ClusterSpec) -> str:
        if not PROFILE_NAME.match(spec.name):
            raise InvalidClusterSpec(
                "name",
                f"{spec.name!r} is not usable as a minikube profile (2-63 lowercase letters, "
                "digits and '-', starting and ending with a letter or digit)",
            )
        return spec.name

    def _env(self, spec: ClusterSpec) -> dict[str, str]:
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig_path(spec))
        env["MINIKUBE_IN_STYLE"] = "true"
        # No update check: it would reach out to GitHub on every command.
        env["MINIKUBE_WANTUPDATENOTIFICATION"] = "false"
        if self.minikube_home is not None:
            env["MINIKUBE_HOME"] = str(self.minikube_home)
        env.update(self.extra_env)
        return env

    async def _run(
        self,
        spec: ClusterSpec,
        argv: list[str],
        *,
        timeout: float | None = None,
        on_line: Progress | None = None,
        stdin: AsyncIterator[bytes] | None = None,
    ) -> ProcessResult:
        command = " ".join(argv[1:3]) if argv[1] == "image" else argv[1]
        try:
            return await run_tool(
                argv,
                env=self._env(spec),
                timeout=timeout or self.command_timeout,
                on_line=on_line,
                stdin=stdin,
            )
        except ToolUnavailable as unavailable:
            if isinstance(unavailable.error, PermissionError):
                raise PermanentDriverError(
                    f"the minikube executable {self.executable!r} is not executable",
                    code="MINIKUBE_NOT_EXECUTABLE",
                ) from None
            if isinstance(unavailable.error, FileNotFoundError):
                raise PermanentDriverError(
                    f"the minikube executable {self.executable!r} was not found; install "
                    "minikube or configure its path",
                    code="MINIKUBE_NOT_FOUND",
                ) from None
            raise
        except ToolTimeout as timeout_error:
            raise TemporaryDriverError(
                f"minikube {command} did not finish within {timeout_error.timeout:g} s "
                f"and was stopped; last output: {codes.last_lines(timeout_error.output)}",
                code="TIMEOUT",
            ) from None

    def _failure(self, command: str, result: ProcessResult) -> DriverError:
        exit_code = result.exit_code
        reason = codes.find_exit_reason(result.lines)
        if reason is not None:
            code, detail = reason[0], f"{reason[0]}: {reason[1]}"
        else:
            code = codes.exit_code_name(exit_code)
            detail = codes.last_lines(result.stderr or result.stdout)
        message = (
            f"minikube {command} failed with exit code {exit_code} "
            f"({codes.exit_code_name(exit_code)}): {detail}"
        )
        if codes.is_retryable(exit_code, reason[0] if reason else None):
            return TemporaryDriverError(message, code=code)
        return PermanentDriverError(message, code=code)


def _positive_int(field_name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidClusterSpec(field_name, f"{value!r} is not a positive whole number")
    return value
