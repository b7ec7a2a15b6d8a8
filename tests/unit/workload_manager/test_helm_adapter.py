"""What the helm adapter makes of helm's output (adapters/helm.py): its history, and which of
its errors are worth trying again."""

from __future__ import annotations

from datetime import UTC, datetime

from slipway_libs.process import ProcessResult
from slipway_workload_manager.adapters.helm import error_text, failure_of, parse_history
from slipway_workload_manager.domain.ports import HelmFailed, HelmUnavailable


def test_helms_history_is_read_oldest_first_with_nanosecond_times():
    output = (
        '[{"revision":2,"updated":"2026-11-30T13:47:58.123456789Z","status":"deployed",'
        '"chart":"todo-0.1.0","app_version":"1.0.0","description":"Upgrade complete"},'
        '{"revision":1,"updated":"2026-11-30T14:47:55.5+01:00","status":"superseded",'
        '"chart":"todo-0.1.0","app_version":"","description":"Install complete"}]'
    )
    first, second = parse_history(output)
    assert (first.revision, first.status, first.app_version) == (1, "superseded", None)
    assert first.updated == datetime(2026, 11, 30, 13, 47, 55, 500000, tzinfo=UTC)
    assert (second.revision, second.description) == (2, "Upgrade complete")
    assert second.updated == datetime(2026, 11, 30, 13, 47, 58, 123456, tzinfo=UTC)
    assert parse_history("") == []


def test_an_unreachable_cluster_or_a_busy_release_is_worth_retrying_anything_else_is_not():
    result = ProcessResult(
        ("helm",),
        1,
        "",
        "Error: Kubernetes cluster unreachable: Get ...: connection refused\n"
        "helm.go:86: [debug] use --debug for more\n",
    )
    assert error_text(result) == "Kubernetes cluster unreachable: Get ...: connection refused"
    assert isinstance(failure_of(error_text(result)), HelmUnavailable)
    busy = "UPGRADE FAILED: another operation (install/upgrade/rollback) is in progress"
    assert isinstance(failure_of(busy), HelmUnavailable)
    refused = failure_of('INSTALLATION FAILED: Deployment.apps "x" is invalid: spec.replicas')
    assert isinstance(refused, HelmFailed) and refused.message.startswith("INSTALLATION FAILED")
