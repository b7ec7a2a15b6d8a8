"""Requested cluster resources are checked against the host, each problem naming its field."""

from __future__ import annotations

import pytest

from slipway_cluster_manager.domain.capabilities import (
    MINIKUBE_MINIMUMS,
    FieldError,
    HostCapabilities,
    KubernetesVersionRange,
    minimums_for,
    validate_cluster_request,
)

SMALL_HOST = HostCapabilities(
    cpu_cores=2, memory_total_mb=8192, memory_reserve_mb=1024, disk_free_mb=50_000
)
TEN_TB_IN_MB = 10 * 1024 * 1024


def validate(**overrides: object) -> list[FieldError]:
    request: dict[str, object] = {
        "name": "demo",
        "cpus": 2,
        "memory_mb": 4096,
        "disk_size_mb": 20_000,
        "kubernetes_version": "v1.30.2",
    }
    request.update(overrides)
    return validate_cluster_request(host=SMALL_HOST, **request)  # type: ignore[arg-type]


def messages(errors: list[FieldError]) -> list[str]:
    return [str(error) for error in errors]


def test_a_request_that_fits_the_host_has_no_errors() -> None:
    assert validate() == []


def test_too_many_cpus_names_the_field_and_the_hosts_core_count() -> None:
    assert messages(validate(cpus=512)) == ["cpus: 512 exceeds the host's 2 cores"]


def test_ten_terabytes_of_memory_names_the_field_and_the_hosts_memory() -> None:
    errors = validate(memory_mb=TEN_TB_IN_MB)

    assert [error.field for error in errors] == ["memory"]
    assert errors[0].message == (
        f"{TEN_TB_IN_MB} MB exceeds the host's available 7168 MB "
        "(8192 MB total, 1024 MB reserved for the host)"
    )


def test_memory_up_to_the_available_amount_is_accepted_and_one_more_mb_is_not() -> None:
    assert validate(memory_mb=7168) == []
    assert [error.field for error in validate(memory_mb=7169)] == ["memory"]


def test_disk_larger_than_the_free_space_is_refused() -> None:
    assert messages(validate(disk_size_mb=60_000)) == [
        "disk_size: 60000 MB exceeds the host's 50000 MB of free disk"
    ]


def test_every_problem_is_reported_at_once() -> None:
    errors = validate(name="Bad_Name", cpus=0, memory_mb="lots", kubernetes_version="1.30")

    assert [error.field for error in errors] == ["name", "cpus", "memory", "kubernetes_version"]


@pytest.mark.parametrize("value", [0, -1])
def test_cpus_must_be_at_least_one(value: int) -> None:
    assert messages(validate(cpus=value)) == [f"cpus: {value} is below the minimum of 1 cores"]


@pytest.mark.parametrize("value", [True, 2.5, "2", None])
def test_cpus_must_be_a_whole_number(value: object) -> None:
    assert messages(validate(cpus=value)) == ["cpus: must be a whole number of cores"]


def test_minikube_minimums_apply_to_minikube_clusters() -> None:
    errors = validate_cluster_request(
        name="x",
        cpus=1,
        memory_mb=1024,
        disk_size_mb=1000,
        kubernetes_version="v1.30.2",
        host=SMALL_HOST,
        minimums=minimums_for("minikube"),
    )

    assert minimums_for("minikube") == MINIKUBE_MINIMUMS
    assert messages(errors) == [
        "name: 'x' is shorter than 2 characters",
        "cpus: 1 is below the minimum of 2 cores",
        "memory: 1024 is below the minimum of 1800 MB",
        "disk_size: 1000 is below the minimum of 2000 MB",
    ]


@pytest.mark.parametrize("name", ["Demo", "-demo", "demo-", "de_mo", "de.mo", "a" * 64])
def test_name_must_be_a_dns_1123_label(name: str) -> None:
    errors = validate(name=name)

    assert [error.field for error in errors] == ["name"]
    assert "is not a DNS-1123 label" in errors[0].message


@pytest.mark.parametrize("name", ["d", "demo", "demo-2", "a" * 63])
def test_dns_1123_labels_are_accepted(name: str) -> None:
    assert validate(name=name) == []


@pytest.mark.parametrize("version", ["1.30.2", "v1.30", "v1.30.2-rc.1", "latest", "stable"])
def test_kubernetes_version_must_be_vmajor_minor_patch(version: str) -> None:
    assert messages(validate(kubernetes_version=version)) == [
        f"kubernetes_version: {version!r} is not of the form vMAJOR.MINOR.PATCH (e.g. v1.30.2)"
    ]


@pytest.mark.parametrize("version", ["v1.27.9", "v1.35.0", "v2.0.0"])
def test_kubernetes_version_outside_the_supported_range_says_the_range(version: str) -> None:
    assert messages(validate(kubernetes_version=version)) == [
        f"kubernetes_version: {version} is outside the supported range v1.28.0 to v1.34.x"
    ]


@pytest.mark.parametrize("version", ["v1.28.0", "v1.31.4", "v1.34.0", "v1.34.17"])
def test_kubernetes_versions_inside_the_range_are_accepted(version: str) -> None:
    assert validate(kubernetes_version=version) == []


def test_the_supported_range_is_configurable() -> None:
    errors = validate_cluster_request(
        name="demo",
        cpus=2,
        memory_mb=4096,
        disk_size_mb=20_000,
        kubernetes_version="v1.28.0",
        host=SMALL_HOST,
        versions=KubernetesVersionRange(oldest=(1, 30, 0), newest_minor=(1, 33)),
    )

    assert messages(errors) == [
        "kubernetes_version: v1.28.0 is outside the supported range v1.30.0 to v1.33.x"
    ]
