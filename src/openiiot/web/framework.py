"""The console's request plumbing: the signed-in user, CSRF checks, page rendering and error pages.

Every console route uses `ConsoleRoute`, which turns the platform's errors into pages a person can read:
an expired session goes back to sign-in with a note, a forbidden action shows 403, an object of another
tenant or a mistyped id shows 404, a broken query string shows 400. Nothing ever shows a stack trace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException

from openiiot.domain.errors import (
    AuthenticationFailed,
    Conflict,
    NotFound,
    OpenIIoTError,
    PermissionDenied,
    ValidationFailed,
)
from openiiot.domain.model import Principal, Role, User
from openiiot.services.authorization import role_at_least
from openiiot.services.clock import SystemClock
from openiiot.services.management import Services
from openiiot.services.ports import Clock
from openiiot.web.i18n import LANGUAGES, Formatter, choose_language, translations
from openiiot.web.sessions import (
    CSRF_FIELD,
    CSRF_HEADER,
    LANGUAGE_COOKIE,
    SESSION_COOKIE,
    csrf_token_for,
    tokens_match,
)

log = logging.getLogger(__name__)

CONSOLE_PREFIX = "/console"
TEMPLATES_DIR = Path(__file__).parent / "templates"
STATIC_DIR = Path(__file__).parent / "static"

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    autoescape=select_autoescape(["html"]),
    extensions=["jinja2.ext.i18n"],
    trim_blocks=True,
    lstrip_blocks=True,
)


class SessionExpired(Exception):
    """The console session is missing, expired or no longer valid: go back to sign-in."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRejected(Exception):
    """A state-changing request came without the session's CSRF token."""


@dataclass(frozen=True, slots=True)
class Session:
    """The signed-in user of one request, with the helpers pages need."""

    principal: Principal
    user: User
    token: str
    language: str
    timezone: str

    @property
    def csrf_token(self) -> str:
        """The token every form of this session carries."""
        return csrf_token_for(self.token)

    def can(self, minimum: Role) -> bool:
        """Whether the user's role is `minimum` or higher (what a role may not do is not offered)."""
        return role_at_least(self.principal.role, minimum)


def services_of(request: Request) -> Services:
    """The wired management services."""
    services: Services = request.app.state.services
    return services


def clock_of(request: Request) -> Clock:
    """The platform clock (the system clock when the app was built without one)."""
    clock: Clock | None = getattr(request.app.state, "console_clock", None)
    return clock or SystemClock()


def language_of(request: Request, user: User | None = None) -> str:
    """The page language: the switcher's cookie, the user's setting, then Accept-Language."""
    return choose_language(
        request.cookies.get(LANGUAGE_COOKIE),
        user.locale if user is not None and user.locale != "en" else None,
        request.headers.get("accept-language"),
    )


def _tenant_timezone(services: Services, principal: Principal) -> str:
    if principal.tenant_id is None:
        return "UTC"
    try:
        return services.tenants.get(principal, principal.tenant_id).timezone
    except OpenIIoTError:
        return "UTC"


def current_session(request: Request) -> Session:
    """The signed-in user, or SessionExpired (the route class sends the browser to sign-in)."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SessionExpired("signed-out")
    if token.startswith("oik_"):
        raise SessionExpired("invalid")  # API keys are for machines, not browser sessions
    services = services_of(request)
    try:
        principal = services.auth.authenticate_bearer(token)
    except AuthenticationFailed as exc:
        raise SessionExpired("expired" if "expired" in str(exc) else "invalid") from exc
    host = request.client.host if request.client is not None else None
    principal = Principal(
        user_id=principal.user_id,
        username=principal.username,
        role=principal.role,
        tenant_id=principal.tenant_id,
        scopes=principal.scopes,
        source_ip=host,
    )
    user = services.auth.me(principal)
    return Session(
        principal=principal,
        user=user,
        token=token,
        language=language_of(request, user),
        timezone=_tenant_timezone(services, principal),
    )


async def checked_form(request: Request, session: Session) -> Mapping[str, str]:
    """The submitted form after its CSRF token (field or htmx header) matched the session's."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    given = fields.get(CSRF_FIELD) or request.headers.get(CSRF_HEADER)
    if not tokens_match(session.csrf_token, given):
        raise CsrfRejected()
    return fields


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any],
    *,
    session: Session | None = None,
    language: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render a page in the session's (or the request's) language."""
    chosen = language or (session.language if session is not None else language_of(request))
    catalogue = translations(chosen)
    formatter = Formatter(chosen, session.timezone if session is not None else "UTC")
    page = _environment.get_template(template)

    def translate(message: str, **values: Any) -> str:
        text = catalogue.gettext(message)
        return text % values if values else text

    def translate_plural(singular: str, plural: str, n: int, **values: Any) -> str:
        text = catalogue.ngettext(singular, plural, n)
        return text % {"num": n, **values}

    body = page.render(
        {
            "request": request,
            "session": session,
            "lang": chosen,
            "languages": LANGUAGES,
            "fmt": formatter,
            "now_ms": clock_of(request).now_ms(),
            "Role": Role,
            "prefix": CONSOLE_PREFIX,
            "_": translate,
            "gettext": translate,
            "ngettext": translate_plural,
            **context,
        }
    )
    response = HTMLResponse(body, status_code=status_code)
    response.headers["Content-Language"] = chosen
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, status_code: int, message: str, session: Session | None = None) -> Response:
    """A readable error page in the visitor's language."""
    return render(
        request,
        "error.html",
        {"status": status_code, "message": message},
        session=session,
        status_code=status_code,
    )


def login_redirect(request: Request, reason: str) -> Response:
    """Back to sign-in, remembering where the user was going."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    url = f"{CONSOLE_PREFIX}/login?reason={quote(reason)}&next={quote(target, safe='')}"
    if request.headers.get("hx-request"):
        response: Response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def _session_or_none(request: Request) -> Session | None:
    try:
        return current_session(request)
    except (SessionExpired, OpenIIoTError):
        return None


def _message(exc: Exception, fallback: str) -> str:
    text = str(exc).strip()
    return text or fallback


class ConsoleRoute(APIRoute):
    """A route whose errors become console pages instead of problem details or stack traces."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """Wrap FastAPI's handler with the console's error pages."""
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except SessionExpired as exc:
                return login_redirect(request, exc.reason)
            except CsrfRejected:
                page = _session_or_none(request)
                return error_page(request, 403, "csrf", page)
            except (PermissionDenied, NotFound, ValidationFailed, Conflict, RequestValidationError) as exc:
                status = {
                    PermissionDenied: 403,
                    NotFound: 404,
                    ValidationFailed: 400,
                    Conflict: 409,
                    RequestValidationError: 400,
                }[type(exc)]
                detail = "broken-query" if isinstance(exc, RequestValidationError) else _message(exc, "")
                return error_page(request, status, detail, _session_or_none(request))
            except StarletteHTTPException as exc:
                return error_page(request, exc.status_code, str(exc.detail), _session_or_none(request))
            except OpenIIoTError as exc:
                log.warning("console request failed", extra={"path": request.url.path, "error": str(exc)})
                return error_page(request, 400, _message(exc, "error"), _session_or_none(request))
            except Exception:
                log.exception("console page failed", extra={"path": request.url.path})
                return error_page(request, 500, "internal", _session_or_none(request))

        return handle
