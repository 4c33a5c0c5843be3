"""The alarm lifecycle: one open alarm per (originator, rule), acknowledge, clear, latch, shelve, suppress."""

from __future__ import annotations

import pytest

from openiiot.domain.alarms import (
    Alarm,
    AlarmAction,
    AlarmRule,
    AlarmTransition,
    RuleState,
    Severity,
    TransitionKind,
    acknowledge,
    add_comment,
    alarm_from_dict,
    alarm_to_dict,
    apply_transition,
    clear,
    evaluate,
    expire_shelving,
    parse_rule,
    reset,
    shelve,
    suppress,
    unshelve,
    unsuppress,
)
from openiiot.domain.errors import Conflict, ValidationFailed

MIN = 60_000


def _transition(kind: str, severity: str, ts_ms: int, latching: bool = False) -> AlarmTransition:
    return AlarmTransition(
        TransitionKind(kind), "r1", "High temperature", Severity(severity), None, ts_ms, latching
    )


def _apply(alarm: Alarm | None, kind: str, severity: str, ts_ms: int, **kw: bool) -> Alarm | None:
    new_id = f"a{ts_ms}"
    return apply_transition(
        alarm,
        _transition(kind, severity, ts_ms, kw.get("latching", False)),
        new_alarm_id=new_id,
        tenant_id="t1",
        originator_id="d1",
        suppressed=kw.get("suppressed", False),
    )


def _raised(latching: bool = False) -> Alarm:
    alarm = _apply(None, "raise", "major", 0, latching=latching)
    assert alarm is not None
    return alarm


def test_a_raise_opens_an_active_unacknowledged_alarm() -> None:
    alarm = _raised()
    assert (alarm.id, alarm.originator_id, alarm.rule_id, alarm.severity) == (
        "a0",
        "d1",
        "r1",
        Severity.MAJOR,
    )
    assert alarm.status == "active_unack"
    assert [e.action for e in alarm.history] == [AlarmAction.RAISED]


def test_escalation_asks_for_acknowledgement_again_but_deescalation_does_not() -> None:
    alarm = acknowledge(_raised(), "op1", 1000)
    escalated = _apply(alarm, "escalate", "critical", 2000)
    assert escalated is not None and escalated.severity is Severity.CRITICAL and not escalated.acknowledged
    acked = acknowledge(escalated, "op1", 3000)
    lowered = _apply(acked, "deescalate", "major", 4000)
    assert lowered is not None and lowered.severity is Severity.MAJOR and lowered.acknowledged
    assert lowered.id == "a0"  # the same alarm throughout


def test_clear_then_a_new_occurrence_opens_a_new_alarm() -> None:
    cleared = _apply(_raised(), "clear", "major", 1000)
    assert cleared is not None and cleared.status == "cleared_unack" and cleared.cleared_ms == 1000
    again = _apply(cleared, "raise", "major", 2000)
    assert again is not None and again.id == "a2000" and again.active
    assert _apply(None, "clear", "major", 3000) is None


def test_acknowledging_twice_is_a_conflict_and_a_cleared_alarm_can_be_acknowledged() -> None:
    cleared = _apply(_raised(), "clear", "major", 1000)
    assert cleared is not None
    acked = acknowledge(cleared, "op1", 2000, comment="seen")
    assert acked.status == "cleared_ack" and acked.acknowledged_ms == 2000
    assert acked.history[-1].by == "op1" and acked.history[-1].comment == "seen"
    with pytest.raises(Conflict, match="already acknowledged"):
        acknowledge(acked, "op2", 3000)


def test_a_latching_alarm_stays_open_after_return_to_normal_until_reset() -> None:
    alarm = _raised(latching=True)
    with pytest.raises(Conflict, match="condition is still present"):
        clear(alarm, "op1", 500)
    latched = _apply(alarm, "clear", "major", 1000, latching=True)
    assert latched is not None and latched.active and latched.latched
    done = reset(latched, "op1", 2000, comment="checked the valve")
    assert not done.active and done.cleared_ms == 2000 and done.history[-1].action is AlarmAction.RESET
    with pytest.raises(Conflict):
        reset(done, "op1", 3000)


def test_a_latched_alarm_whose_condition_returns_is_reactivated_not_duplicated() -> None:
    latched = _apply(acknowledge(_raised(latching=True), "op1", 10), "clear", "major", 1000)
    back = _apply(latched, "raise", "critical", 2000)
    assert back is not None and back.id == "a0" and not back.latched and not back.acknowledged
    assert back.severity is Severity.CRITICAL and back.history[-1].action is AlarmAction.REACTIVATED


def test_reset_refuses_an_alarm_that_is_not_latched() -> None:
    with pytest.raises(Conflict, match="not latched"):
        reset(_raised(), "op1", 1000)


def test_manual_clear_of_a_plain_alarm_is_recorded_and_not_repeatable() -> None:
    done = clear(_raised(), "op1", 1000, comment="sensor removed")
    assert not done.active and done.history[-1].action is AlarmAction.CLEARED and done.history[-1].by == "op1"
    with pytest.raises(Conflict, match="already cleared"):
        clear(done, "op1", 2000)


def test_shelving_expires_by_itself() -> None:
    alarm = shelve(_raised(), "op1", 1000, until_ms=1000 + 30 * MIN, comment="known fault")
    assert alarm.is_shelved(2000) and not alarm.should_notify(2000)
    with pytest.raises(Conflict, match="already shelved"):
        shelve(alarm, "op2", 3000, until_ms=3000 + MIN)
    assert expire_shelving(alarm, 1000 + 29 * MIN) is alarm
    expired = expire_shelving(alarm, 1000 + 31 * MIN)
    assert expired.shelved_until_ms is None and expired.should_notify(1000 + 31 * MIN)
    assert expired.history[-1].action is AlarmAction.SHELVE_EXPIRED
    assert expired.history[-1].ts_ms == 1000 + 30 * MIN
    assert not alarm.is_shelved(1000 + 30 * MIN)  # also reads as unshelved before anyone expires it


def test_shelving_is_bounded_and_unshelve_needs_a_shelved_alarm() -> None:
    with pytest.raises(ValidationFailed):
        shelve(_raised(), "op1", 1000, until_ms=1000 + 8 * 24 * 60 * MIN)
    with pytest.raises(ValidationFailed):
        shelve(_raised(), "op1", 1000, until_ms=900)
    with pytest.raises(Conflict, match="not shelved"):
        unshelve(_raised(), "op1", 1000)
    back = unshelve(shelve(_raised(), "op1", 1000, until_ms=5 * MIN), "op1", 2000)
    assert back.shelved_until_ms is None and back.history[-1].action is AlarmAction.UNSHELVED


def test_suppression_records_transitions_without_notifying() -> None:
    alarm = _apply(None, "raise", "major", 0, suppressed=True)
    assert alarm is not None and alarm.suppressed and not alarm.should_notify(0)
    escalated = _apply(alarm, "escalate", "critical", 1000)
    assert (
        escalated is not None
        and escalated.severity is Severity.CRITICAL
        and not escalated.should_notify(1000)
    )
    visible = unsuppress(escalated, "tech1", 2000, comment="maintenance done")
    assert visible.should_notify(2000)
    with pytest.raises(Conflict):
        unsuppress(visible, "tech1", 3000)
    assert suppress(visible, "tech1", 3000).suppressed


def test_comments_are_history_and_must_say_something() -> None:
    alarm = add_comment(_raised(), "op1", 500, "called the site")
    assert (alarm.history[-1].action, alarm.history[-1].comment) == (AlarmAction.COMMENTED, "called the site")
    with pytest.raises(ValidationFailed):
        add_comment(alarm, "op1", 600, "  ")
    with pytest.raises(ValidationFailed):
        acknowledge(alarm, " ", 700)


def test_alarms_round_trip_through_dicts() -> None:
    alarm = shelve(acknowledge(_raised(latching=True), "op1", 10, "ok"), "op1", 20, until_ms=MIN)
    assert alarm_from_dict(alarm_to_dict(alarm)) == alarm


def test_rule_to_alarm_end_to_end_with_latching() -> None:
    rule: AlarmRule = parse_rule(
        {
            "id": "r1",
            "name": "overpressure",
            "alarm_type": "Overpressure",
            "latching": True,
            "levels": [
                {
                    "severity": "critical",
                    "condition": {"type": "threshold", "key": "p", "op": ">", "value": 10},
                }
            ],
        }
    )
    state, open_alarm = RuleState(), None
    for ts, value in [(0, 12.0), (1000, 8.0), (2000, 11.0), (3000, 9.0)]:
        state, transitions = evaluate(rule, state, [(ts, "p", value)], ts)
        for tr in transitions:
            open_alarm = apply_transition(
                open_alarm, tr, new_alarm_id=f"a{ts}", tenant_id="t1", originator_id="d1"
            )
    assert open_alarm is not None and open_alarm.id == "a0" and open_alarm.latched
    actions = [e.action for e in open_alarm.history]
    assert actions == [AlarmAction.RAISED, AlarmAction.LATCHED, AlarmAction.REACTIVATED, AlarmAction.LATCHED]
