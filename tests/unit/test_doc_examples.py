"""The examples in docs/alarms.md and docs/condition-monitoring.md are read from the documents themselves and
checked against the code, so that a user who copies them gets what the text promises (a renamed field, a
changed error message or a new derived key fails here, not in front of a user)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from openiiot.analytics.condition.monitor import (
    DEFAULT_GROUPS,
    WAVE_FEATURES,
    ConditionMonitor,
    MonitorSettings,
)
from openiiot.domain.alarms import parse_rule
from openiiot.domain.errors import ValidationFailed
from openiiot.services.condition_jobs import ConditionConfig

DOCS = Path(__file__).resolve().parents[2] / "docs"


def _blocks(doc: str, lang: str) -> list[str]:
    text = (DOCS / doc).read_text(encoding="utf-8")
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def _json_objects(text: str) -> list[Any]:
    """Every JSON object in `text`, in order (blank lines or shell around them are skipped)."""
    decoder, out, i = json.JSONDecoder(), [], 0
    while (start := text.find("{", i)) >= 0:
        obj, end = decoder.raw_decode(text, start)
        out.append(obj)
        i = end
    return out


def _posted_bodies(doc: str, path: str) -> list[dict[str, Any]]:
    """The `-d '{...}'` bodies of the curl examples that POST to `path`."""
    bodies = []
    for block in _blocks(doc, "sh"):
        for match in re.finditer(re.escape(path) + r" -d '(\{.*?\})'", block, flags=re.S):
            bodies.append(json.loads(match.group(1)))
    return bodies


def test_the_alarm_rule_of_docs_alarms_md_is_valid_and_its_error_example_is_exact() -> None:
    bodies = _posted_bodies("alarms.md", "api/v1/alarm-rules")
    assert len(bodies) == 1
    body = bodies[0]
    assert set(body) == {"tenant_id", "profile_id", "rule"}
    rule = parse_rule(body["rule"])
    assert [lv.severity.value for lv in rule.levels] == ["major", "critical"]
    assert rule.clear.deadband == 0.5
    # "A mistake is a 422 whose errors[0].field is ... e.g. rule.levels[1].condition.op with the reason ..."
    text = (DOCS / "alarms.md").read_text(encoding="utf-8")
    quoted = re.search(r'e\.g\. `"rule\.(levels\[1\]\.condition\.op)"` with the reason\s+`([^`]+)`', text)
    assert quoted is not None, "the error example of docs/alarms.md §2 moved: update this test"
    bad = json.loads(json.dumps(body["rule"]))
    bad["levels"][1]["condition"]["op"] = "~"
    with pytest.raises(ValidationFailed) as err:
        parse_rule(bad)
    assert (err.value.field, str(err.value)) == (quoted.group(1), quoted.group(2))


def test_the_webhook_notification_rule_of_docs_alarms_md_has_the_documented_shape() -> None:
    (body,) = _posted_bodies("alarms.md", "api/v1/notifications/rules")
    assert body["channel"] == "webhook"
    assert body["target"]["url"].startswith("http://127.0.0.1:9000/")
    receiver = "python3 docs/examples/webhook_receiver.py --port 9000 --secret " + body["target"]["secret"]
    assert receiver in "".join(_blocks("alarms.md", "sh"))
    assert (DOCS / "examples" / "webhook_receiver.py").is_file()


def test_the_shelve_example_of_docs_alarms_md_does_not_use_a_fixed_instant() -> None:
    """Shelving must end after now and within 7 days: a literal date in the example turns into a 422."""
    shelve = [b for b in _blocks("alarms.md", "sh") if "/shelve" in b]
    assert shelve and all(not re.search(r"until_ms\W+\d", b) for b in shelve)


def test_the_condition_monitoring_attribute_example_is_accepted() -> None:
    objects = [o for b in _blocks("condition-monitoring.md", "json") for o in _json_objects(b)]
    (example,) = [o for o in objects if "bearing" in o]
    cfg = ConditionConfig.from_json(example)
    assert cfg.bearing == "6205" and cfg.envelope_band == (1640.0, 4010.0)
    for block in _blocks("condition-monitoring.md", "sh"):
        for match in re.finditer(r"-d '(\{\"condition_monitoring\".*?\})'", block):
            ConditionConfig.from_json(json.loads(match.group(1))["condition_monitoring"])


def test_the_recommended_rules_on_derived_keys_are_valid_alarm_rules() -> None:
    rules = [o for b in _blocks("condition-monitoring.md", "json") for o in _json_objects(b) if "levels" in o]
    assert [r["name"] for r in rules] == ["Reducer anomaly", "Reducer health", "Vibration severity"]
    for raw in rules:
        parse_rule({"id": "doc", **raw})


def _derived_keys() -> set[str]:
    """Every key the monitor writes: features of each burst, and after training scores, indices and RUL."""
    rng = np.random.default_rng(3)
    features = (*WAVE_FEATURES, "temp_rise_c", "current_rms_a")
    base = {k: 1.0 + i for i, k in enumerate(features)}

    def row(scale: float) -> dict[str, float]:
        return {k: v * (scale if k == "hf_rms" else 1.0) * (1 + 0.02 * rng.normal()) for k, v in base.items()}

    monitor = ConditionMonitor(MonitorSettings(features=features)).fit([row(1.0) for _ in range(40)])
    keys = set(WAVE_FEATURES)
    for i in range(60):  # the bearing indicator grows until RUL is estimated
        keys |= set(monitor.update(1_000_000 + i * 600_000, row(1.0 + 0.2 * i**1.5)))
    return keys


def test_the_cm_keys_of_docs_condition_monitoring_md_are_those_the_monitor_writes() -> None:
    text = (DOCS / "condition-monitoring.md").read_text(encoding="utf-8")
    named = set(re.findall(r"`cm\.([a-z_]+)`", text))
    # section 4 names keys without the prefix in its headings: "— `velocity_rms` (mm/s), `iso_zone` ..."
    for heading in re.findall(r"^### 4\.\d .*$", text, flags=re.M):
        named |= set(re.findall(r"`([a-z_]+)`", heading.split("—", 1)[-1]))
    named -= {"run_health_check"}
    produced = _derived_keys()
    assert {f"rul_{x}" for x in ("h", "low_h", "high_h")} <= produced  # the synthetic run reached RUL
    assert {"hi_" + g for g in DEFAULT_GROUPS} <= produced
    assert named - produced == set(), "the doc names keys the platform does not write"
    assert produced - named == set(), "the platform writes keys the doc does not explain"
