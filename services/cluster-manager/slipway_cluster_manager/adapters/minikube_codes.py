"""minikube's documented exit codes and `status` output, and what they mean to Slipway.

Sources (kubernetes/minikube):
- pkg/minikube/reason/exitcodes.go, also published as the "Error Codes" reference page:
  the exit codes of failing commands. Codes 10-119 come in blocks of ten per error
  source (program, host, internet, driver, provider, local network, guest, runtime,
  control plane, service) with a sysexits-like offset inside each block; the resource
  block 20-29 "follows no rules".
- pkg/minikube/reason/reason.go: which reason ID (e.g. RSRC_INSUFFICIENT_CORES) exits
  with which code; failures print "Exiting due to <ID>: <message>".
- cmd/minikube/cmd/status.go: `minikube status` exits with a bitmask, 1 = host (VM or
  container) not running, 2 = cluster (kubelet/apiserver) not running, 4 = kubeconfig
  not configured; 7 = all stopped. 3-7 are reserved for it.
- pkg/minikube/cluster/status.go: `status -o json` prints
  {"Name", "Host", "Kubelet", "APIServer", "Kubeconfig", "Worker"} (a list for several
  nodes) with states "Running", "Stopped", "Paused", "Error", "Nonexistent",
  "Configured", "Misconfigured", "Irrelevant" (worker nodes), "InsufficientStorage".
- pkg/minikube/mustload/mustload.go: commands naming a profile that does not exist print
  'There is no local cluster named "<name>"' and exit with ExGuestNotFound (85).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from slipway_cluster_manager.domain.ports import ProbeResult

EX_FAILURE = 1
EX_INTERRUPTED = 2
EX_PROGRAM_CONFLICT = 11
EX_PROGRAM_USAGE = 14
EX_RESOURCE_ERROR = 20
EX_INSUFFICIENT_MEMORY = 23
EX_INSUFFICIENT_STORAGE = 26
EX_INSUFFICIENT_CORES = 29
EX_GUEST_ERROR = 80
EX_GUEST_NOT_FOUND = 85
EX_GUEST_UNAVAILABLE = 89

EXIT_CODE_NAMES: dict[int, str] = {
    1: "ExFailure",
    2: "ExInterrupted",
    10: "ExProgramError",
    11: "ExProgramConflict",
    14: "ExProgramUsage",
    15: "ExProgramNotFound",
    16: "ExProgramUnsupported",
    18: "ExProgramConfig",
    20: "ExResourceError",
    23: "ExInsufficientMemory",
    26: "ExInsufficientStorage",
    27: "ExInsufficientPermission",
    29: "ExInsufficientCores",
    30: "ExHostError",
    31: "ExHostConflict",
    32: "ExHostTimeout",
    34: "ExHostUsage",
    35: "ExHostNotFound",
    37: "ExHostPermission",
    38: "ExHostUnsupported/ExHostConfig",  # exitcodes.go gives both the value 38
    40: "ExInternetError",
    41: "ExInternetConflict",
    42: "ExInternetTimeout",
    45: "ExInternetNotFound",
    48: "ExInternetConfig",
    49: "ExInternetUnavailable",
    50: "ExDriverError",
    51: "ExDriverConflict",
    52: "ExDriverTimeout",
    54: "ExDriverUsage",
    55: "ExDriverNotFound",
    56: "ExDriverUnsupported",
    57: "ExDriverPermission",
    58: "ExDriverConfig",
    59: "ExDriverUnavailable",
    60: "ExProviderError",
    61: "ExProviderConflict",
    62: "ExProviderTimeout",
    63: "ExProviderNotRunning",
    65: "ExProviderNotFound",
    66: "ExProviderUnsupported",
    67: "ExProviderPermission",
    68: "ExProviderConfig",
    69: "ExProviderUnavailable",
    70: "ExLocalNetworkError",
    71: "ExLocalNetworkConflict",
    72: "ExLocalNetworkTimeout",
    75: "ExLocalNetworkNotFound",
    77: "ExLocalNetworkPermission",
    78: "ExLocalNetworkConfig",
    79: "ExLocalNetworkUnavailable",
    80: "ExGuestError",
    81: "ExGuestConflict",
    82: "ExGuestTimeout",
    83: "ExGuestNotRunning",
    85: "ExGuestNotFound",
    86: "ExGuestUnsupported",
    87: "ExGuestPermission",
    88: "ExGuestConfig",
    89: "ExGuestUnavailable",
    90: "ExRuntimeError",
    93: "ExRuntimeNotRunning",
    95: "ExRuntimeNotFound",
    99: "ExRuntimeUnavailable",
    100: "ExControlPlaneError",
    101: "ExControlPlaneConflict",
    102: "ExControlPlaneTimeout",
    103: "ExControlPlaneNotRunning",
    105: "ExControlPlaneNotFound",
    106: "ExControlPlaneUnsupported",
    108: "ExControlPlaneConfig",
    109: "ExControlPlaneUnavailable",
    110: "ExSvcError",
    111: "ExSvcConflict",
    112: "ExSvcTimeout",
    113: "ExSvcNotRunning",
    115: "ExSvcNotFound",
    116: "ExSvcUnsupported",
    117: "ExSvcPermission",
    118: "ExSvcConfig",
    119: "ExSvcUnavailable",
}

# Offsets inside a block of ten: error (0), timeout (2), not running (3) and unavailable
# (9) describe a state of the world that can change by itself; conflict (1), usage (4),
# not found (5), unsupported (6), permission (7) and config (8) need a person to act.
_RETRYABLE_OFFSETS = frozenset({0, 2, 3, 9})

STATUS_HOST_NOT_RUNNING = 1
STATUS_CLUSTER_NOT_RUNNING = 2
STATUS_KUBECONFIG_NOT_CONFIGURED = 4

_EXIT_REASON = re.compile(r"Exiting due to ([A-Z][A-Z0-9_]*):\s*(.*)")


def exit_code_name(code: int) -> str:
    """minikube's constant name for an exit code, e.g. 29 -> "ExInsufficientCores"."""
    if code < 0 or code >= 128:
        return "killed by a signal"
    return EXIT_CODE_NAMES.get(code, "undocumented exit code")


# Reasons whose exit code's class says "a person must act" but that commonly clear by
# themselves: DRV_DOCKER_NOT_RUNNING exits with ExDriverNotFound (55), yet it usually
# means the Docker daemon is still starting.
RETRYABLE_REASON_IDS = frozenset({"DRV_DOCKER_NOT_RUNNING"})


def is_retryable(code: int, reason_id: str | None = None) -> bool:
    """Whether a minikube command that failed with `code` (and printed "Exiting due to
    `reason_id`") may succeed when run again."""
    if reason_id in RETRYABLE_REASON_IDS:
        return True
    if code in (EX_FAILURE, EX_INTERRUPTED):
        return True
    if code == EX_PROGRAM_CONFLICT:
        # reason.go reports MK_INTERRUPTED (killed by an OS signal) with this code.
        return True
    if 20 <= code <= 29:
        # Insufficient memory/storage/permission/cores: the request or the host must change.
        return code == EX_RESOURCE_ERROR
    if 10 <= code <= 119:
        return code % 10 in _RETRYABLE_OFFSETS
    # Killed by a signal, or a code minikube does not document: let bounded redelivery
    # decide rather than failing the cluster on the first surprise.
    return True


def find_exit_reason(lines: Iterable[str]) -> tuple[str, str] | None:
    """The last "Exiting due to <ID>: <message>" in minikube's output, as (ID, message)."""
    found = None
    for line in lines:
        match = _EXIT_REASON.search(line)
        if match:
            found = (match.group(1), match.group(2).strip())
    return found


@dataclass(frozen=True)
class MinikubeStatus:
    """One node's entry of `minikube status -o json`."""

    name: str
    host: str
    kubelet: str
    apiserver: str
    kubeconfig: str
    worker: bool

    def components(self) -> dict[str, str]:
        return {
            "Host": self.host,
            "Kubelet": self.kubelet,
            "APIServer": self.apiserver,
            "Kubeconfig": self.kubeconfig,
        }


def _as_status(entry: Any) -> MinikubeStatus | None:
    if not isinstance(entry, dict) or "Host" not in entry:
        return None
    return MinikubeStatus(
        name=str(entry.get("Name", "")),
        host=str(entry.get("Host", "")),
        kubelet=str(entry.get("Kubelet", "")),
        apiserver=str(entry.get("APIServer", "")),
        kubeconfig=str(entry.get("Kubeconfig", "")),
        worker=bool(entry.get("Worker", False)),
    )


def _control_plane(document: Any) -> MinikubeStatus | None:
    # One node prints an object; several print a list, primary control plane first.
    entries = document if isinstance(document, list) else [document]
    statuses = [status for status in map(_as_status, entries) if status is not None]
    for status in statuses:
        if not status.worker:
            return status
    return statuses[0] if statuses else None


def parse_status_json(stdout: str) -> MinikubeStatus | None:
    """The control plane's status from `minikube status -o json` output, if present.

    In JSON mode minikube may also print CloudEvents lines (its messages), so each line
    is tried when the whole output is not one JSON document.
    """
    candidates = [stdout, *stdout.splitlines()]
    for candidate in candidates:
        try:
            document = json.loads(candidate)
        except ValueError:
            continue
        status = _control_plane(document)
        if status is not None:
            return status
    return None


def interpret_status(profile: str, exit_code: int, stdout: str, stderr: str) -> ProbeResult:
    """Map `minikube status -p <profile> -o json`'s output and exit code to a ProbeResult.

    The JSON is authoritative; the bitmask exit code is the fallback when there is none.
    """
    if exit_code == EX_GUEST_NOT_FOUND:
        return ProbeResult(
            "stopped", f'minikube has no profile "{profile}" (never started, or deleted)'
        )
    status = parse_status_json(stdout)
    if status is None:
        return _interpret_bitmask(exit_code, stderr)
    components = status.components()
    if status.host == "Nonexistent":
        return ProbeResult("stopped", f'minikube has no host for profile "{profile}"', components)
    if status.host == "Stopped":
        return ProbeResult("stopped", None, components)
    if status.host != "Running":
        return ProbeResult("error", f"minikube reports the host as {status.host}", components)
    if status.apiserver == "Paused":
        return ProbeResult(
            "error",
            f'the control plane is paused; run "minikube unpause -p {profile}"',
            components,
        )
    if status.kubelet != "Running" or status.apiserver not in ("Running", "Irrelevant"):
        return ProbeResult(
            "error",
            f"host is running but kubelet is {status.kubelet} and apiserver is {status.apiserver}",
            components,
        )
    if status.kubeconfig == "Misconfigured":
        return ProbeResult(
            "running",
            "the kubeconfig entry is stale; it is refreshed (minikube update-context) "
            "whenever a kubeconfig is handed out",
            components,
        )
    return ProbeResult("running", None, components)


def _interpret_bitmask(exit_code: int, stderr: str) -> ProbeResult:
    if exit_code == 0:
        return ProbeResult("running")
    if 0 < exit_code <= 7:
        if exit_code & STATUS_HOST_NOT_RUNNING:
            return ProbeResult("stopped", f"minikube status exit code {exit_code}: host stopped")
        if exit_code & STATUS_CLUSTER_NOT_RUNNING:
            return ProbeResult(
                "error", f"minikube status exit code {exit_code}: kubelet or apiserver down"
            )
        return ProbeResult(
            "running", f"minikube status exit code {exit_code}: kubeconfig not configured"
        )
    reason = find_exit_reason(stderr.splitlines())
    detail = f"{reason[0]}: {reason[1]}" if reason else last_lines(stderr)
    return ProbeResult(
        "error",
        f"minikube status failed with exit code {exit_code} "
        f"({exit_code_name(exit_code)}): {detail}",
    )


def last_lines(text: str, count: int = 3) -> str:
    """The last `count` non-blank lines of `text`, joined with " | "."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return " | ".join(lines[-count:]) if lines else "no output"
