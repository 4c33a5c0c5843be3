"""Sign-in, sign-out and the language switcher."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from openiiot.domain.errors import AuthenticationFailed, ValidationFailed
from openiiot.web.framework import (
    CONSOLE_PREFIX,
    ConsoleRoute,
    checked_form,
    current_session,
    language_of,
    render,
    services_of,
)
from openiiot.web.i18n import LANGUAGES, normalise
from openiiot.web.sessions import (
    CSRF_FIELD,
    LANGUAGE_COOKIE,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    new_login_csrf,
    tokens_match,
)

router = APIRouter(prefix=CONSOLE_PREFIX, route_class=ConsoleRoute, include_in_schema=False)

LANGUAGE_COOKIE_AGE_S = 365 * 86400
MAX_FIELD_CHARS = 256


def safe_next(target: str | None) -> str:
    """Only a path inside the console: never another site (open redirect)."""
    if (
        target
        and target.startswith(CONSOLE_PREFIX + "/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return f"{CONSOLE_PREFIX}/fleet"


def _login_page(
    request: Request, *, reason: str, next_url: str, username: str = "", status: int = 200
) -> Response:
    token = new_login_csrf()
    language = request.query_params.get("lang")
    chosen = normalise(language) or language_of(request)
    response = render(
        request,
        "login.html",
        {"reason": reason, "next_url": next_url, "username": username, "login_csrf": token},
        language=chosen,
        status_code=status,
    )
    secure = request.url.scheme == "https"
    response.set_cookie(
        LOGIN_CSRF_COOKIE, token, httponly=True, samesite="strict", path=CONSOLE_PREFIX, secure=secure
    )
    if normalise(language):
        response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=LANGUAGE_COOKIE_AGE_S, samesite="lax", path="/")
    return response


@router.get("/login")
async def login_form(request: Request) -> Response:
    """The sign-in form; `reason` explains why the user is here (expired, signed-out)."""
    reason = request.query_params.get("reason", "")
    return _login_page(
        request,
        reason=reason if reason in ("expired", "invalid", "signed-out", "logged-out") else "",
        next_url=safe_next(request.query_params.get("next")),
    )


@router.post("/login")
async def login(request: Request) -> Response:
    """Check the password with the platform's auth service and open a session."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    next_url = safe_next(fields.get("next"))
    username = fields.get("username", "")[:MAX_FIELD_CHARS]
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE), fields.get(CSRF_FIELD)):
        return _login_page(request, reason="csrf", next_url=next_url, username=username, status=403)
    try:
        issued = services_of(request).auth.login(username, fields.get("password", "")[:MAX_FIELD_CHARS])
    except (AuthenticationFailed, ValidationFailed):
        return _login_page(
            request, reason="bad-credentials", next_url=next_url, username=username, status=401
        )
    response = RedirectResponse(next_url, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        issued.access_token,
        max_age=issued.expires_in_s,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    response.delete_cookie(LOGIN_CSRF_COOKIE, path=CONSOLE_PREFIX)
    return response


@router.post("/logout")
async def logout(request: Request) -> Response:
    """Close the session."""
    session = current_session(request)
    await checked_form(request, session)
    response = RedirectResponse(f"{CONSOLE_PREFIX}/login?reason=logged-out", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.post("/language")
async def switch_language(request: Request) -> Response:
    """Switch the console language and remember it for this browser and this user."""
    session = current_session(request)
    fields = await checked_form(request, session)
    chosen = normalise(fields.get("language"))
    if chosen is None or chosen not in LANGUAGES:
        raise ValidationFailed("unknown language", field="language")
    services_of(request).users.update(session.principal, session.user.id, {"locale": chosen})
    response = RedirectResponse(safe_next(fields.get("next")), status_code=303)
    response.set_cookie(LANGUAGE_COOKIE, chosen, max_age=LANGUAGE_COOKIE_AGE_S, samesite="lax", path="/")
    return response
