"""The API key that guards endpoints which change data (`CARTSIM_API_KEY`, header X-API-Key)."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, Security
from fastapi.security import APIKeyHeader

from cartsim.settings import Settings

_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="Required by the generate endpoints when the server sets CARTSIM_API_KEY.",
)


async def require_api_key(
    request: Request, given: Annotated[str | None, Security(_header)] = None
) -> None:
    """Pass when no key is configured or the header matches it (compared in constant time)."""
    settings: Settings = request.app.state.settings
    if settings.api_key is None:
        return
    expected = settings.api_key.get_secret_value().encode()
    if given is None or not secrets.compare_digest(given.encode(), expected):
        raise HTTPException(
            status_code=401,
            detail="missing or wrong X-API-Key header",
            headers={"WWW-Authenticate": "X-API-Key"},
        )


ApiKeyDep = Depends(require_api_key)
