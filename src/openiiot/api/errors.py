"""RFC 9457 problem details for every error the API answers; never a stack trace."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from openiiot.domain.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    OpenIIoTError,
    Overloaded,
    PermissionDenied,
    ValidationFailed,
)

log = logging.getLogger(__name__)

PROBLEM_BASE = "https://openiiot.dev/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
WWW_AUTHENTICATE = 'Bearer realm="openiiot"'
#: 422 for every invalid input, ours and FastAPI's alike, so clients handle one status
VALIDATION_STATUS = 422

_STATUS_OF: dict[type[OpenIIoTError], int] = {
    NotFound: 404,
    Conflict: 409,
    ValidationFailed: VALIDATION_STATUS,
    AuthenticationFailed: 401,
    PermissionDenied: 403,
    Overloaded: 503,
}


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Sequence[dict[str, str]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """A problem-details response with a stable type URI."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def status_of(exc: OpenIIoTError) -> int:
    """The HTTP status of one of our errors (500 for those a client cannot cause)."""
    for cls in type(exc).__mro__:
        if cls in _STATUS_OF:
            return _STATUS_OF[cls]
    return 500


async def _on_domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OpenIIoTError)
    status = status_of(exc)
    if status == 500:
        log.error("unexpected platform error", exc_info=exc)
        return problem(500, "internal-error", "the platform failed to answer; the error has been logged")
    headers = {"WWW-Authenticate": WWW_AUTHENTICATE} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "1"}
    field = getattr(exc, "field", None)
    errors = [{"field": field, "reason": str(exc)}] if field else None
    return problem(status, exc.code, str(exc), errors=errors, headers=headers)


def _field_of(loc: Sequence[int | str]) -> str:
    # ("body", "keys", 0, "kind") -> "keys.0.kind"; ("query", "limit") -> "limit"; ("body",) -> "body"
    parts = [str(p) for p in loc]
    if len(parts) > 1 and parts[0] in ("body", "query", "path", "header", "cookie"):
        parts = parts[1:]
    return ".".join(parts) or "body"


async def _on_request_validation(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field_of(e.get("loc", ())), "reason": str(e.get("msg", "invalid"))} for e in exc.errors()
    ]
    names = ", ".join(dict.fromkeys(e["field"] for e in errors))
    return problem(VALIDATION_STATUS, ValidationFailed.code, f"invalid input: {names}", errors=errors)


async def _on_http_exception(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not-found", 405: "method-not-allowed", 401: AuthenticationFailed.code}.get(
        exc.status_code, "http-error"
    )
    return problem(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}) or None)


async def _on_unexpected(_request: Request, exc: Exception) -> JSONResponse:
    log.error("unhandled error in the API", exc_info=exc)
    return problem(500, "internal-error", "the platform failed to answer; the error has been logged")


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error as problem details."""
    app.add_exception_handler(OpenIIoTError, _on_domain_error)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(Exception, _on_unexpected)
