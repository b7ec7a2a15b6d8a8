"""Composition root of the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from fastapi import FastAPI
from starlette.routing import Route

from slipway_contracts.access import Role
from slipway_gateway.access.rules import MCP_PATH
from slipway_gateway.adapters import admin_token
from slipway_gateway.adapters.approval_events import ApprovalEvents
from slipway_gateway.adapters.approval_store import ApprovalStore
from slipway_gateway.adapters.audit_feed import AuditFeed
from slipway_gateway.adapters.audit_store import AuditStore
from slipway_gateway.adapters.bus import CommandBus
from slipway_gateway.adapters.language_model import LanguageModel
from slipway_gateway.adapters.token_store import TokenStore
from slipway_gateway.adapters.webhook_dispatcher import WebhookDispatcher
from slipway_gateway.adapters.webhook_feed import WebhookFeed
from slipway_gateway.adapters.webhook_store import WebhookStore
from slipway_gateway.approval_desk import ApprovalDesk
from slipway_gateway.entrypoints import (
    advice,
    alerts,
    approvals,
    audit,
    auditing,
    authorization,
    body_limit,
    charts,
    clusters,
    deployments,
    events,
    images,
    pages,
    problems,
    releases,
    services,
    system,
    tokens,
    webhooks,
    whoami,
)
from slipway_gateway.mcp.server import McpEndpoint
from slipway_gateway.settings import GatewaySettings
from slipway_keys.secrets import sealer_from
from slipway_libs import logging as slipway_logging
from slipway_libs.errors import Unavailable
from slipway_libs.runtime import cancelled, started
from slipway_libs.storage import Database
from slipway_observability import tracing

log = logging.getLogger(__name__)

DESCRIPTION = """Slipway's REST API. Every `/api` call needs an API token,
`Authorization: Bearer <token>`, of the role it names: `viewer` reads, `operator` also
changes entities and reads kubeconfigs and logs, `admin` also manages tokens and reads
the audit log (401 without a valid token, 403 naming the role needed). Every change and
every refused call is in the audit log (`GET /api/audit`).
Long-running requests answer 202 with a `Location`;
every entity carries `ETag: "<revision>"`; PUT, DELETE and actions honour `If-Match`;
POST honours `Idempotency-Key`; errors are RFC 9457 problem+json. A body that is not JSON
is a 400 naming where it breaks; JSON that breaks the schema is a 422 naming each field.
A request body over the gateway's `SLIPWAY_MAX_BODY_BYTES` (8 MiB by default) is refused
with 413 before it is read, and the connection closes."""
BOOTSTRAP_TOKEN_NAME = "admin"
SETUP_RETRY_S = 1.0


async def set_up_database(
    settings: GatewaySettings,
    tokens: TokenStore,
    audit_log: AuditStore,
    admin_secret: str | None,
    webhooks: WebhookStore,
    approval_store: ApprovalStore,
) -> None:
    """Indexes, and the bootstrap admin token registered (unless its hash is known)."""
    await tokens.ensure_indexes()
    await webhooks.ensure_indexes()
    await approval_store.ensure_indexes()
    if admin_secret is not None:
        now = datetime.now(UTC)
        if await tokens.register(admin_secret, BOOTSTRAP_TOKEN_NAME, Role.ADMIN, now):
            log.info("registered the admin token", extra={"path": str(settings.admin_token_path)})
    await audit_log.ensure_indexes()


async def keep_setting_up(
    settings: GatewaySettings,
    tokens: TokenStore,
    audit_log: AuditStore,
    admin_secret: str | None,
    webhooks: WebhookStore,
    approval_store: ApprovalStore,
) -> None:
    """`set_up_database`, tried again every second while MongoDB is down."""
    while True:
        try:
            await set_up_database(
                settings, tokens, audit_log, admin_secret, webhooks, approval_store
            )
            return
        except Unavailable as exc:
            log.warning("MongoDB unavailable; setting up again", extra={"error": exc.message})
            await asyncio.sleep(SETUP_RETRY_S)


async def bootstrap_secret(settings: GatewaySettings) -> str | None:
    """The admin token's secret (its file made when missing); None with auth turned off."""
    if not settings.auth_enabled:
        log.warning(
            "AUTHENTICATION IS OFF (SLIPWAY_AUTH_ENABLED=false): every API call acts as an "
            "anonymous admin. Never run this way where anyone else can reach the gateway."
        )
        return None
    path = settings.admin_token_path
    secret = await asyncio.to_thread(admin_token.read_or_create, path)
    log.info("the admin token is in its file", extra={"path": str(path)})
    return secret


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    mcp = McpEndpoint()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        slipway_logging.configure("gateway", settings.log_level)
        tracing.configure("gateway")  # exports spans when OTEL_EXPORTER_OTLP_ENDPOINT is set
        database = Database(settings.mongodb_uri, settings.database, settings.mongodb_timeout_s)
        app.state.database = database
        app.state.tokens = TokenStore(database)
        app.state.audit_log = AuditStore(database, settings.audit_retention_days)
        bus = CommandBus(settings.nats_url, settings.request_timeout_s, settings)
        app.state.bus = bus
        app.state.language_model = LanguageModel(settings)
        feed = AuditFeed(bus, app.state.audit_log)
        sealer = await asyncio.to_thread(sealer_from, settings, settings.state_dir)
        app.state.webhooks = WebhookStore(database, sealer)
        webhook_feed = WebhookFeed(bus, app.state.webhooks)
        dispatcher = WebhookDispatcher(app.state.webhooks, bus, settings)
        approval_store = ApprovalStore(database, sealer)
        app.state.approvals = ApprovalDesk(
            approval_store,
            bus,
            app.state.audit_log,
            settings.approval_ttl_s,
            events=ApprovalEvents(bus),
            sweep_interval_s=settings.approval_sweep_interval_s,
            settle_s=3 * settings.request_timeout_s,
        )
        setting_up = asyncio.create_task(
            keep_setting_up(
                settings,
                app.state.tokens,
                app.state.audit_log,
                await bootstrap_secret(settings),
                app.state.webhooks,
                approval_store,
            )
        )
        # Serve once the admin token is registered, unless MongoDB is slow to come.
        await asyncio.wait({setting_up}, timeout=2 * settings.mongodb_timeout_s)
        await bus.start()
        app.state.tokens.start()
        app.state.webhooks.start()
        feed.start()
        webhook_feed.start()
        dispatcher.start()
        app.state.approvals.start()
        try:
            async with mcp.running():
                started()
                yield
        finally:
            await app.state.approvals.stop()
            await dispatcher.stop()
            await app.state.webhooks.stop()
            await webhook_feed.stop()
            await cancelled(setting_up)
            await feed.stop()
            await app.state.tokens.stop()
            await bus.stop()
            await app.state.language_model.close()
            await database.close()
            tracing.shutdown()

    # `/docs` is served from local files by `pages` (FastAPI's own loads from a CDN); no ReDoc.
    app = FastAPI(
        title="Slipway",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    problems.install(app, settings.retry_after_s)
    # Middleware added later runs around what was added before: correlation (X-Request-ID)
    # → audit trail → authorization → body limit → the routes. So a refused call is audited
    # with its X-Request-ID, and is refused before its body is read.
    body_limit.install(app, settings.max_body_bytes)
    app.add_middleware(authorization.Authorization, settings=settings)
    app.add_middleware(auditing.AuditTrail, retry_after_s=settings.retry_after_s)
    system.install_middleware(app)
    app.include_router(system.router)
    app.include_router(images.router)
    app.include_router(charts.router)
    app.include_router(clusters.router)
    app.include_router(deployments.router)
    app.include_router(services.router)
    app.include_router(releases.router)
    app.include_router(tokens.router)
    app.include_router(audit.router)
    app.include_router(alerts.webhook)
    app.include_router(alerts.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(approvals.router)
    webhooks.document_deliveries(app)
    app.include_router(whoami.router)
    app.include_router(advice.router)
    pages.install(app)
    # The MCP server (streamable HTTP): the same tokens as /api, at least viewer.
    app.router.routes.append(Route(MCP_PATH, endpoint=mcp, include_in_schema=False))
    return app
