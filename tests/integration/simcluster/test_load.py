"""Many deployments at once: the simulated cluster is used for load tests."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.integration.simcluster.conftest import RunningCluster, deployment_body
from tests.waiting import poll

COUNT = 200


def test_two_hundred_concurrent_deployments_all_become_available(cluster: RunningCluster) -> None:
    namespace = cluster.namespace()

    with ThreadPoolExecutor(max_workers=32) as pool:
        created = list(
            pool.map(
                lambda index: cluster.apps.create_namespaced_deployment(
                    namespace, deployment_body(f"app-{index:03d}", replicas=1)
                ),
                range(COUNT),
            )
        )

    def available_count() -> int:
        items = cluster.apps.list_namespaced_deployment(namespace).items
        return sum(1 for d in items if (d.status.available_replicas or 0) == 1)

    poll(lambda: available_count() == COUNT, timeout_s=45, what=f"{COUNT} available deployments")
    assert len({d.metadata.uid for d in created}) == COUNT
    assert len(cluster.core.list_namespaced_pod(namespace).items) == COUNT
