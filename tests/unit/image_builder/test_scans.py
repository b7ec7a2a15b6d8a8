"""Scans (service_layer/scans.py, domain/scan.py): queued after a build, run as the job handler
runs them, the policy applied (warn or enforce), read back; on fakes."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import pytest

from slipway_contracts import subjects
from slipway_contracts.commands import ScanImage
from slipway_contracts.entities import FindingKind, ScanFinding, Severity
from slipway_contracts.jobs import BuildJob, ScanJob
from slipway_contracts.queries import GetImageSbom, GetImageScan
from slipway_image_builder.domain.scan import ScanReport, root_finding, runs_as_root
from slipway_image_builder.service_layer import builds, scans
from slipway_libs.errors import Conflict, NotFound, PermanentError
from slipway_libs.jobs import run_job
from tests.fakes import FakeDelivery
from tests.unit.image_builder.fakes import dependencies, put_image

IMAGE = subjects.CONTAINER_IMAGE
SECRET = ScanFinding(
    kind=FindingKind.SECRET,
    severity=Severity.CRITICAL,
    rule="aws-access-key-id",
    title="AWS Access Key ID",
    file="/app/app.env",
    layer="sha256:abc",
)
LOW = ScanFinding(kind=FindingKind.MISCONFIG, severity=Severity.LOW, rule="DS-0026", title="x")


async def run_scan_job(deps, image_id: str) -> FakeDelivery:
    image = await deps.images.get(image_id)
    job = ScanJob(image_id=image_id, scan_id=image.state.scan.scan_id)
    delivery = FakeDelivery(1)
    await run_job(
        delivery,
        deps.settings,
        work=partial(scans.run_scan, deps, job),
        give_up=partial(scans.give_up_scan, deps, job),
    )
    return delivery


async def test_a_finished_build_queues_a_scan_with_the_built_event(deps):
    image = put_image(deps, built=False)
    await builds.run_build(deps, BuildJob(image_id=image.id, build_id=image.state.build_id))
    built = await deps.images.get(image.id)
    assert built.state.scan.status == "pending"
    assert [job.subject for job in deps.uow.jobs] == [subjects.job(IMAGE, "scan")]
    assert deps.uow.jobs[0].payload == {"image_id": image.id, "scan_id": built.state.scan.scan_id}


async def test_a_scan_records_counts_findings_and_the_sbom_with_a_scanned_event(deps):
    image = put_image(deps)
    deps.scanner.report = ScanReport({"trivy": "0.76.0"}, [LOW, SECRET], ["vulns skipped: no db"])
    deps.scanner.report = ScanReport(
        {"trivy": "0.76.0"}, [LOW, SECRET], ["vulns skipped: no db"], b'{"bomFormat": "x"}'
    )

    assert (await run_scan_job(deps, image.id)).acked

    scanned = (await deps.images.get(image.id)).state
    assert scanned.status == "built"  # warn: recorded, not refused
    assert scanned.scan.status == "partial"
    assert scanned.scan.skipped == ["vulns skipped: no db"]
    assert [f.rule for f in scanned.scan.findings] == ["aws-access-key-id", "DS-0026"]
    assert scanned.scan.counts[Severity.CRITICAL] == 1
    assert scanned.scan.counts[Severity.LOW] == 1
    assert deps.uow.event_types() == [subjects.event(IMAGE, "scanned")]
    assert deps.scanner.scanned[0][1].name == "Dockerfile"
    sbom = await scans.read_sbom(deps, GetImageSbom(id=image.id))
    assert sbom["data"] == {"bomFormat": "x"}


async def test_under_enforce_a_critical_finding_fails_the_image_with_the_reason(tmp_path):
    deps = dependencies(tmp_path, image_policy="enforce")
    image = put_image(deps)
    deps.scanner.report = ScanReport({"trivy": "0.76.0"}, [SECRET])

    await run_scan_job(deps, image.id)

    failed = (await deps.images.get(image.id)).state
    assert failed.status == "failed"
    assert "secret aws-access-key-id in /app/app.env" in failed.reason
    assert deps.uow.event_types() == [
        subjects.event(IMAGE, "scanned"),
        subjects.event(IMAGE, "failed"),
    ]


async def test_under_enforce_a_root_image_fails_and_under_warn_it_gets_a_policy_finding(tmp_path):
    enforced = dependencies(tmp_path, image_policy="enforce")
    image = put_image(enforced)
    image.state = image.state.model_copy(update={"user": ""})
    enforced.images.put(image)
    await run_scan_job(enforced, image.id)
    failed = (await enforced.images.get(image.id)).state
    assert failed.status == "failed"
    assert "policy non-root-user" in failed.reason

    warned = dependencies(tmp_path)
    image = put_image(warned)
    image.state = image.state.model_copy(update={"user": "root"})
    warned.images.put(image)
    await run_scan_job(warned, image.id)
    kept = (await warned.images.get(image.id)).state
    assert kept.status == "built"
    assert [(f.kind, f.rule) for f in kept.scan.findings] == [("policy", "non-root-user")]


@pytest.mark.parametrize(
    ("user", "root"),
    [
        ("", True),
        (None, True),
        ("root", True),
        ("0", True),
        ("0:0", True),
        ("root:staff", True),
        ("65532", False),
        ("65532:65532", False),
        ("app", False),
    ],
)
def test_the_non_root_rule(user, root):
    assert runs_as_root(user) is root
    assert (root_finding(user) is not None) is root


async def test_a_scan_that_cannot_run_ends_failed_with_the_reason_and_the_image_stays(deps):
    image = put_image(deps)
    deps.scanner.fail_with = PermanentError("trivy failed (exit 1): boom")

    assert (await run_scan_job(deps, image.id)).acked

    kept = (await deps.images.get(image.id)).state
    assert kept.status == "built"
    assert (kept.scan.status, kept.scan.reason) == ("failed", "trivy failed (exit 1): boom")
    assert deps.uow.event_types() == [subjects.event(IMAGE, "scanned")]


async def test_scan_again_queues_a_new_scan_and_a_repeated_job_changes_nothing(deps):
    image = put_image(deps)
    await run_scan_job(deps, image.id)
    first = (await deps.images.get(image.id)).state.scan.scan_id

    reply = await scans.scan_image(deps, ScanImage(id=image.id))
    assert reply["data"]["scan"]["status"] == "pending"
    second = reply["data"]["scan"]["scan_id"]
    assert second != first
    await run_scan_job(deps, image.id)
    scanned_events = len(deps.uow.events)
    # The same job delivered again: the scan is no longer pending, nothing is written.
    await scans.run_scan(deps, ScanJob(image_id=image.id, scan_id=second))
    assert len(deps.uow.events) == scanned_events
    answer = await scans.read_scan(deps, GetImageScan(id=image.id))
    assert answer["data"]["scan"]["scan_id"] == second


async def test_only_a_built_image_is_scanned_and_an_unscanned_one_has_no_sbom(deps):
    image = put_image(deps, built=False)
    with pytest.raises(Conflict, match="current status: building"):
        await scans.scan_image(deps, ScanImage(id=image.id))
    with pytest.raises(NotFound, match="no SBOM yet"):
        await scans.read_sbom(deps, GetImageSbom(id=image.id))


async def test_the_periodic_rescan_queues_images_never_or_long_ago_scanned(tmp_path):
    deps = dependencies(tmp_path, rescan_interval_s=3600)
    image = put_image(deps)
    await run_scan_job(deps, image.id)  # scanned just now: not due
    assert await scans.rescan_images(deps) == 0
    scanned = await deps.images.get(image.id)
    two_hours_ago = scanned.state.scan.requested_at - timedelta(hours=2)
    old_scan = scanned.state.scan.model_copy(update={"requested_at": two_hours_ago})
    scanned.state = scanned.state.model_copy(update={"scan": old_scan})
    deps.images.put(scanned)
    assert await scans.rescan_images(deps) == 1
    assert (await deps.images.get(image.id)).state.scan.status == "pending"
