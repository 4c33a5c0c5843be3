"""Alarm rules on assets through the API: created, listed by asset, refused when they name both or neither."""

from __future__ import annotations

import pytest
from tests.integration.api_fixtures import (
    Api,
    api_fixture,  # noqa: F401  (provides the `api` fixture)
    assert_problem,
    populate,
)

from openiiot.domain.model import Role

pytestmark = pytest.mark.integration

RULE = {
    "name": "Station pressure",
    "alarm_type": "High pressure",
    "levels": [
        {
            "severity": "major",
            "condition": {"type": "threshold", "key": "pressure_bar", "op": ">", "value": 8},
        }
    ],
}


async def test_rule_on_an_asset(api: Api) -> None:
    acme = await populate(api, "acme")
    admin = acme.headers[Role.TENANT_ADMIN]
    created = await api.create("/alarm-rules", {"asset_id": acme.asset_id, "rule": RULE}, admin)
    assert (created["asset_id"], created["profile_id"]) == (acme.asset_id, None)
    listed = await api.call("GET", f"/alarm-rules?asset_id={acme.asset_id}", admin)
    assert [r["id"] for r in listed.json()["items"]] == [created["id"]]
    both = await api.call(
        "POST",
        "/alarm-rules",
        admin,
        json={"asset_id": acme.asset_id, "profile_id": acme.profile_id, "rule": RULE},
    )
    assert_problem(both, 422, "profile_id")
    neither = await api.call("POST", "/alarm-rules", admin, json={"rule": RULE})
    assert_problem(neither, 422, "profile_id")
    other = await populate(api, "globex")
    foreign = await api.call("POST", "/alarm-rules", admin, json={"asset_id": other.asset_id, "rule": RULE})
    assert foreign.status_code == 404
