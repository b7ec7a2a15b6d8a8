"""`python -m slipway_workload_manager`: run the workload-manager service."""

import asyncio
import sys

# The `kubernetes` package imports `kubernetes_validate` (for its dynamic client) whenever it
# is installed, as it is beside the chart-validator; with jsonschema and its format grammars
# that costs this process about 20 MB of memory and two seconds of start-up for nothing it
# uses. Marked absent here, in the service's own process only, the client skips it.
sys.modules.setdefault("kubernetes_validate", None)  # type: ignore[arg-type]

from slipway_workload_manager.app import create_app  # noqa: E402

if __name__ == "__main__":
    asyncio.run(create_app().run())
