"""How a handler receives the use cases' dependencies: the ones app.py built, with a unit of
work of the handler's own (handlers of different subjects, and jobs, run side by side)."""

from __future__ import annotations

from typing import Annotated

from faststream import Context, Depends

from slipway_cluster_manager.service_layer.dependencies import Dependencies


def for_this_message(shared: Annotated[Dependencies, Context("deps")]) -> Dependencies:
    return shared.for_one_task()


Deps = Annotated[Dependencies, Depends(for_this_message, cast=False)]
