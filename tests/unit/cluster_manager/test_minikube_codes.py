"""minikube's documented exit codes and status output map to the right Slipway outcome."""

from __future__ import annotations

import json

import pytest

from slipway_cluster_manager.adapters.minikube_codes import (
    exit_code_name,
    find_exit_reason,
    interpret_status,
    is_retryable,
    parse_status_json,
)


def status_json(host: str, kubelet: str, apiserver: str, kubeconfig: str) -> str:
    return json.dumps(
        {
            "Name": "demo",
            "Host": host,
            "Kubelet": kubelet,
            "APIServer": apiserver,
            "Kubeconfig": kubeconfig,
            "Worker": False,
        }
    )


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1, "ExFailure"),
        (14, "ExProgramUsage"),
        (23, "ExInsufficientMemory"),
        (26, "ExInsufficientStorage"),
        (29, "ExInsufficientCores"),
        (55, "ExDriverNotFound"),
        (63, "ExProviderNotRunning"),
        (85, "ExGuestNotFound"),
        (100, "ExControlPlaneError"),
        (-15, "killed by a signal"),
        (130, "killed by a signal"),
        (7, "undocumented exit code"),
    ],
)
def test_exit_codes_are_named_as_minikube_documents_them(code: int, name: str) -> None:
    assert exit_code_name(code) == name


@pytest.mark.parametrize(
    "code",
    [
        1,  # ExFailure
        2,  # ExInterrupted
        11,  # ExProgramConflict, used by MK_INTERRUPTED
        20,  # ExResourceError
        32,  # ExHostTimeout
        40,  # ExInternetError
        52,  # ExDriverTimeout
        63,  # ExProviderNotRunning
        69,  # ExProviderUnavailable
        80,  # ExGuestError (GUEST_PROVISION, GUEST_START)
        82,  # ExGuestTimeout
        89,  # ExGuestUnavailable
        100,  # ExControlPlaneError (K8S_INSTALL_FAILED)
        102,  # ExControlPlaneTimeout
        -9,  # killed by a signal
        137,
    ],
)
def test_transient_failure_classes_are_retryable(code: int) -> None:
    assert is_retryable(code)


@pytest.mark.parametrize(
    "code",
    [
        14,  # ExProgramUsage
        16,  # ExProgramUnsupported
        23,  # ExInsufficientMemory
        26,  # ExInsufficientStorage
        27,  # ExInsufficientPermission
        29,  # ExInsufficientCores
        37,  # ExHostPermission
        55,  # ExDriverNotFound
        57,  # ExDriverPermission
        65,  # ExProviderNotFound
        81,  # ExGuestConflict (GUEST_DRIVER_MISMATCH)
        85,  # ExGuestNotFound
        106,  # ExControlPlaneUnsupported
    ],
)
def test_failures_a_person_must_fix_are_permanent(code: int) -> None:
    assert not is_retryable(code)


def test_docker_not_running_is_retryable_despite_its_not_found_exit_code() -> None:
    assert not is_retryable(55, "DRV_NOT_FOUND")
    assert is_retryable(55, "DRV_DOCKER_NOT_RUNNING")


def test_the_last_exiting_due_to_line_gives_the_reason() -> None:
    lines = [
        "😄  minikube v1.37.0 on Debian 12",
        "",
        "❌  Exiting due to RSRC_INSUFFICIENT_CORES: Requested cpu count 512 is greater "
        "than the available cpus of 2",
        "",
    ]
    assert find_exit_reason(lines) == (
        "RSRC_INSUFFICIENT_CORES",
        "Requested cpu count 512 is greater than the available cpus of 2",
    )
    assert find_exit_reason(["X Exiting due to MK_USAGE: bad flag"]) == ("MK_USAGE", "bad flag")
    assert find_exit_reason(["all good"]) is None


@pytest.mark.parametrize(
    ("exit_code", "document", "status"),
    [
        (0, status_json("Running", "Running", "Running", "Configured"), "running"),
        (7, status_json("Stopped", "Stopped", "Stopped", "Stopped"), "stopped"),
        (7, status_json("Nonexistent", "Nonexistent", "Nonexistent", "Nonexistent"), "stopped"),
        (2, status_json("Running", "Stopped", "Stopped", "Configured"), "error"),
        (2, status_json("Running", "Running", "Error", "Configured"), "error"),
        (2, status_json("Running", "Stopped", "Paused", "Configured"), "error"),
        (4, status_json("Running", "Running", "Running", "Misconfigured"), "running"),
        (3, status_json("Error", "Error", "Error", "Error"), "error"),
        (1, status_json("InsufficientStorage", "Running", "Running", "Configured"), "error"),
    ],
)
def test_status_json_decides_the_probe(exit_code: int, document: str, status: str) -> None:
    result = interpret_status("demo", exit_code, document, "")

    assert result.status == status
    assert result.components["Host"] == json.loads(document)["Host"]


def test_a_paused_cluster_says_how_to_unpause_it() -> None:
    result = interpret_status(
        "demo", 2, status_json("Running", "Stopped", "Paused", "Configured"), ""
    )

    assert result.reason == 'the control plane is paused; run "minikube unpause -p demo"'


def test_a_broken_cluster_names_the_components_that_are_down() -> None:
    result = interpret_status(
        "demo", 2, status_json("Running", "Stopped", "Error", "Configured"), ""
    )

    assert result.reason == "host is running but kubelet is Stopped and apiserver is Error"


def test_a_missing_profile_is_stopped_whatever_is_printed() -> None:
    result = interpret_status("demo", 85, '🤷  There is no local cluster named "demo"', "")

    assert result.status == "stopped"
    assert result.reason == 'minikube has no profile "demo" (never started, or deleted)'


@pytest.mark.parametrize(
    ("exit_code", "status"),
    [
        (0, "running"),
        (1, "stopped"),
        (3, "stopped"),
        (7, "stopped"),
        (2, "error"),
        (6, "error"),
        (4, "running"),
    ],
)
def test_without_json_the_documented_bitmask_decides(exit_code: int, status: str) -> None:
    assert interpret_status("demo", exit_code, "", "").status == status


def test_an_unexpected_failure_of_status_is_an_error_with_minikubes_reason() -> None:
    result = interpret_status(
        "demo", 10, "", "❌  Exiting due to MK_STATUS_JSON: status json failure: boom"
    )

    assert result.status == "error"
    assert result.reason == (
        "minikube status failed with exit code 10 (ExProgramError): "
        "MK_STATUS_JSON: status json failure: boom"
    )


def test_multi_node_status_uses_the_control_plane_entry() -> None:
    nodes = [
        {
            "Name": "demo-m02",
            "Host": "Stopped",
            "Kubelet": "Stopped",
            "APIServer": "Irrelevant",
            "Kubeconfig": "Irrelevant",
            "Worker": True,
        },
        {
            "Name": "demo",
            "Host": "Running",
            "Kubelet": "Running",
            "APIServer": "Running",
            "Kubeconfig": "Configured",
            "Worker": False,
        },
    ]
    status = parse_status_json(json.dumps(nodes))

    assert status is not None and status.name == "demo" and status.host == "Running"


def test_status_json_is_found_among_other_json_lines() -> None:
    event = json.dumps({"specversion": "1.0", "type": "io.k8s.sigs.minikube.info", "data": {}})
    output = event + "\n" + status_json("Stopped", "Stopped", "Stopped", "Stopped")

    status = parse_status_json(output)

    assert status is not None and status.host == "Stopped"
