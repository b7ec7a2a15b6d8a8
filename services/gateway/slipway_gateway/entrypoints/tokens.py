"""`/api/tokens` (admin): make, list, read and revoke API tokens."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.responses import JSONResponse, Response

from slipway_contracts.access import CreatedToken, CreateToken, Token, TokenPage
from slipway_gateway.adapters.token_store import TokenStore
from slipway_gateway.entrypoints.http import (
    AUTHENTICATED,
    Caller,
    DocumentedRoute,
    PrefixRouter,
    no_content,
)
from slipway_libs.errors import NotFound

router = PrefixRouter(
    prefix="/api/tokens",
    tags=["tokens"],
    route_class=DocumentedRoute,
    dependencies=[AUTHENTICATED],
)


async def token_store(request: Request) -> TokenStore:
    return request.app.state.tokens  # type: ignore[no-any-return]


Tokens = Annotated[TokenStore, Depends(token_store)]


def location(token_id: str) -> str:
    return f"{router.prefix}/{token_id}"


@router.post("", status_code=201, response_model=CreatedToken)
async def create_token(body: CreateToken, tokens: Tokens, caller: Caller) -> JSONResponse:
    """Make a token (201). Its secret is in `token`, shown this once: only its hash is kept."""
    created = await tokens.create(body, created_by=caller.name, now=datetime.now(UTC))
    headers = {"Location": location(created.id), "Cache-Control": "no-store"}
    return JSONResponse(created.model_dump(mode="json"), status_code=201, headers=headers)


@router.get("", response_model=TokenPage)
async def list_tokens(
    tokens: Tokens,
    cursor: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> JSONResponse:
    """Live tokens oldest first (revoked ones are left out; never a secret); pass
    `next_cursor` back as `cursor` for the next page."""
    items, next_cursor = await tokens.page(cursor, limit)
    page = TokenPage(items=items, next_cursor=next_cursor)
    return JSONResponse(page.model_dump(mode="json"))


@router.get("/{token_id}", response_model=Token)
async def get_token(token_id: str, tokens: Tokens) -> JSONResponse:
    token = await tokens.get(token_id)
    if token is None:
        raise NotFound(f"token '{token_id}' does not exist or was revoked")
    return JSONResponse(token.model_dump(mode="json"))


@router.delete("/{token_id}", status_code=204)
async def revoke_token(token_id: str, tokens: Tokens) -> Response:
    """Revoke a token: every gateway refuses it from the next call on."""
    if not await tokens.revoke(token_id, datetime.now(UTC)):
        raise NotFound(f"token '{token_id}' does not exist")
    return no_content()
