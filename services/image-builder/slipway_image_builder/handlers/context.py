"""What every handler receives: the use cases' dependencies, set once by `app.py`."""

from __future__ import annotations

from typing import Annotated

from slipway_image_builder.service_layer.dependencies import Dependencies
from slipway_libs.worker import Shared

DEPENDENCIES = "deps"
Deps = Annotated[Dependencies, Shared(DEPENDENCIES)]
