"""Notification rules through the API: validated, tenant-scoped, secrets write-only, changes audited."""

from __future__ import annotations

import hashlib
import hmac
import importlib.util
from pathlib import Path

import pytest
from tests.integration.api_fixtures import (
    Api,
    api_fixture,  # noqa: F401  (provides the `api` fixture)
    assert_problem,
    populate,
)

from openiiot.connectivity.notify.webhook import sign
from openiiot.domain.model import Role

pytestmark = pytest.mark.integration
HOOK = {"url": "https://ops.example.com/hook", "secret": "a-secret-of-enough-length"}


async def test_a_rule_is_created_read_changed_and_deleted_with_its_secret_never_shown(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    rule = await api.create(
        "/notifications/rules",
        {
            "name": "control room",
            "channel": "webhook",
            "target": HOOK,
            "severities": ["critical", "major"],
            "quiet_hours": {"start": "22:00", "end": "06:00"},
        },
        admin,
    )
    assert rule["target"] == {"url": HOOK["url"], "secret": "********"}
    assert rule["quiet_hours"] == {"start": "22:00", "end": "06:00", "critical_passes": True}

    api.clock.now += 1_000
    changed = await api.call(
        "PATCH",
        f"/notifications/rules/{rule['id']}",
        admin,
        json={"target": {"url": "https://new.example.com/h"}},
    )
    assert changed.status_code == 200, changed.text
    with api.uow() as uow:  # the stored secret survived a target change without one
        assert uow.notifications.get_rule(None, rule["id"]).target["secret"] == HOOK["secret"]
    listed = (await api.call("GET", "/notifications/rules", acme.headers[Role.OPERATOR])).json()["items"]
    assert [r["target"]["url"] for r in listed] == ["https://new.example.com/h"]

    api.clock.now += 1_000
    assert (await api.call("DELETE", f"/notifications/rules/{rule['id']}", admin)).status_code == 204
    actions = [
        e["action"]
        for e in (await api.call("GET", "/audit?action=notification_rule.", admin)).json()["items"]
    ]
    assert actions == ["notification_rule.delete", "notification_rule.update", "notification_rule.create"]


async def test_bad_rules_get_an_error_naming_the_field(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    short = {"name": "x", "channel": "webhook", "target": {"url": HOOK["url"], "secret": "short"}}
    assert_problem(await api.call("POST", "/notifications/rules", admin, json=short), 422, "target.secret")
    no_url = {"name": "x", "channel": "webhook", "target": {"url": "ftp://x", "secret": HOOK["secret"]}}
    assert_problem(await api.call("POST", "/notifications/rules", admin, json=no_url), 422, "target.url")
    bad_mail = {"name": "x", "channel": "email", "target": {"to": ["not-an-address"]}}
    assert_problem(await api.call("POST", "/notifications/rules", admin, json=bad_mail), 422, "target.to")
    wildcard = {"name": "x", "channel": "mqtt", "target": {"topic_suffix": "a/#"}}
    assert_problem(
        await api.call("POST", "/notifications/rules", admin, json=wildcard), 422, "target.topic_suffix"
    )
    bad_severity = {"name": "x", "channel": "webhook", "target": HOOK, "severities": ["urgent"]}
    assert_problem(await api.call("POST", "/notifications/rules", admin, json=bad_severity), 422)
    assert (await api.call("GET", "/notifications/rules", admin)).json()["items"] == []


async def test_other_tenants_and_lower_roles_are_refused(api: Api) -> None:
    acme = await populate(api, "acme")
    beta = await populate(api, "beta")
    rule = await api.create(
        "/notifications/rules",
        {"name": "ops", "channel": "webhook", "target": HOOK},
        acme.headers[Role.TENANT_ADMIN],
    )
    other = beta.headers[Role.TENANT_ADMIN]
    assert_problem(await api.call("GET", f"/notifications/rules/{rule['id']}", other), 404)
    assert_problem(
        await api.call("PATCH", f"/notifications/rules/{rule['id']}", other, json={"enabled": False}), 404
    )
    assert_problem(await api.call("DELETE", f"/notifications/rules/{rule['id']}", other), 404)
    assert (await api.call("GET", "/notifications/rules", other)).json()["items"] == []
    operator = acme.headers[Role.OPERATOR]
    assert_problem(
        await api.call(
            "POST", "/notifications/rules", operator, json={"name": "x", "channel": "webhook", "target": HOOK}
        ),
        403,
    )
    assert_problem(await api.call("GET", "/notifications/attempts", acme.headers[Role.VIEWER]), 403)
    assert_problem(await api.call("GET", "/notifications/deliveries?status=lost", operator), 422)


def test_the_example_receiver_checks_signatures_as_the_platform_signs() -> None:
    path = Path(__file__).parents[2] / "docs" / "examples" / "webhook_receiver.py"
    spec = importlib.util.spec_from_file_location("webhook_receiver", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    body = b'{"delivery_id": "d1"}'
    assert module.signature_ok(body, HOOK["secret"], sign(body, HOOK["secret"]))
    forged = "sha256=" + hmac.new(b"wrong", body, hashlib.sha256).hexdigest()
    assert not module.signature_ok(body, HOOK["secret"], forged)
