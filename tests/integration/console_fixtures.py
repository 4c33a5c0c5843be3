"""Signing in to the web console through its own form, over the API test platform."""

from __future__ import annotations

import re

import httpx
from tests.integration.api_fixtures import PASSWORD, Api


async def console_login(api: Api, username: str, password: str = PASSWORD) -> httpx.AsyncClient:
    """A new client of the same app, signed in through the console's form (with its CSRF cookie)."""
    client = httpx.AsyncClient(transport=api.client._transport, base_url="http://openiiot.test")
    form = await client.get("/console/login")
    assert form.status_code == 200
    token = client.cookies.get("openiiot_login_csrf")
    assert token and f'value="{token}"' in form.text
    response = await client.post(
        "/console/login",
        data={"username": username, "password": password, "csrf_token": token, "next": "/console/fleet"},
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/console/fleet"
    return client


def csrf_of(page: str) -> str:
    """The session's CSRF token as the page's forms carry it."""
    found = re.search(r'name="csrf_token" value="([0-9a-f]{64})"', page)
    assert found, "the page has no CSRF field"
    return found.group(1)
