"""`python -m slipway_workload_manager`: run the workload-manager service."""

import contextlib
import ctypes
import ctypes.util
import sys

# The `kubernetes` package imports `kubernetes_validate` (for its dynamic client) whenever it
# is installed, as it is beside the chart-validator; with jsonschema and its format grammars
# that costs this process about 20 MB of memory and two seconds of start-up for nothing it
# uses. Marked absent here, in the service's own process only, the client skips it.
sys.modules.setdefault("kubernetes_validate", None)  # type: ignore[arg-type]

from slipway_libs import runtime  # noqa: E402
from slipway_workload_manager.app import create_app  # noqa: E402


def _few_malloc_arenas(count: int = 2) -> None:
    """Let glibc's malloc keep `count` arenas instead of eight per core: the Kubernetes
    client's worker threads each read whole objects, and an arena of their own per thread
    kept a rollout burst's peak memory (tens of MB) for good. Elsewhere, nothing."""
    name = ctypes.util.find_library("c")
    if sys.platform.startswith("linux") and name:
        m_arena_max = -8
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(name).mallopt(m_arena_max, count)


if __name__ == "__main__":
    _few_malloc_arenas()
    runtime.run(create_app().run())
