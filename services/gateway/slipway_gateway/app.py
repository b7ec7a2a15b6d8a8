"""Composition root of the gateway."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.entrypoints import (
    body_limit,
    charts,
    clusters,
    deployments,
    images,
    problems,
    releases,
    services,
    system,
)
from slipway_gateway.settings import GatewaySettings
from slipway_libs import logging as slipway_logging

DESCRIPTION = """Slipway's REST API. Long-running requests answer 202 with a `Location`;
every entity carries `ETag: "<revision>"`; PUT, DELETE and actions honour `If-Match`;
POST honours `Idempotency-Key`; errors are RFC 9457 problem+json. A body that is not JSON
is a 400 naming where it breaks; JSON that breaks the schema is a 422 naming each field.
A request body over the gateway's `SLIPWAY_MAX_BODY_BYTES` (8 MiB by default) is refused
with 413 before it is read, and the connection closes."""


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        slipway_logging.configure("gateway", settings.log_level)
        bus = CommandBus(settings.nats_url, settings.request_timeout_s)
        app.state.bus = bus
        await bus.start()
        try:
            yield
        finally:
            await bus.stop()

    app = FastAPI(title="Slipway", version="0.1.0", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    problems.install(app, settings.retry_after_s)
    # Installed first, so it runs inside the correlation middleware: a 413 has its X-Request-ID.
    body_limit.install(app, settings.max_body_bytes)
    system.install_middleware(app)
    app.include_router(system.router)
    app.include_router(images.router)
    app.include_router(charts.router)
    app.include_router(clusters.router)
    app.include_router(deployments.router)
    app.include_router(services.router)
    app.include_router(releases.router)
    return app
