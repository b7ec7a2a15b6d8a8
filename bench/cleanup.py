"""On a stack that outlives the run (SLIPWAY_BENCH_URL), remove through the API what the
run made: the entities whose names carry the run's id. (Seeded documents are removed by
`bench.api.reads` itself; the embedded stack is thrown away whole.)"""

from __future__ import annotations

from typing import Any

import httpx

from bench.measure import drive
from bench.target import Target

IN_FLIGHT = 16
PATHS = (
    "/api/deployments",
    "/api/helm-charts",
    "/api/container-images",
    "/api/minikube-clusters",
)


async def _made_by_run(api: httpx.AsyncClient, path: str, run_id: str) -> list[str]:
    marks = (f"b{run_id}", f"d{run_id}", f"bench/hello-{run_id}", f"bench/deploy-{run_id}")
    ids: list[str] = []
    cursor: str | None = None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = (await api.get(path, params=params)).json()
        for item in page["items"]:
            names = (item.get("name", ""), item.get("namespace") or "")
            if any(n.startswith(marks) for n in names):
                ids.append(item["id"])
        cursor = page.get("next_cursor")
        if not cursor:
            return ids


async def remove_run(target: Target, run_id: str) -> dict[str, Any]:
    """Delete every entity of this run; how many per path, and the failures."""
    removed: dict[str, Any] = {}
    async with target.http(IN_FLIGHT) as api:
        for path in PATHS:
            ids = await _made_by_run(api, path, run_id)

            async def delete(i: int, ids: list[str] = ids, path: str = path) -> None:
                response = await api.delete(f"{path}/{ids[i]}")
                if response.status_code not in (200, 202, 204, 404):
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:200]}")

            run = await drive(delete, len(ids), IN_FLIGHT) if ids else None
            removed[path] = {"found": len(ids), "errors": run.errors if run else 0}
    return removed
