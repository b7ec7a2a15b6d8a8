"""What every handler receives: the use cases' dependencies, set once by `app.py`."""

from __future__ import annotations

from typing import Annotated

from slipway_libs.worker import Shared
from slipway_workload_manager.service_layer.dependencies import Dependencies

DEPENDENCIES = "dependencies"
Deps = Annotated[Dependencies, Shared(DEPENDENCIES)]
