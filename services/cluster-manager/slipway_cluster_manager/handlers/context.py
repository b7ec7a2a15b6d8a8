"""What every handler receives: the use cases' dependencies, set once by `app.py`."""

from __future__ import annotations

from typing import Annotated

from faststream import Context

from slipway_cluster_manager.service_layer.dependencies import Dependencies

DEPENDENCIES = "deps"
Deps = Annotated[Dependencies, Context(DEPENDENCIES)]
