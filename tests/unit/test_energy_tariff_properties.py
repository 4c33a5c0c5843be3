"""Tariff parser properties: valid schedules map every minute right; junk raises TariffError only."""

from __future__ import annotations

import copy
import itertools
import tomllib
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from openiiot.analytics.energy.tariffs import TariffError, parse_tariff, sample_tariff_path

NAMES = ["critical_peak", "peak", "flat", "valley", "deep_valley"]


@st.composite
def schedules(draw: st.DrawFn) -> list[tuple[int, int, str]]:
    """Non-overlapping [from, to) minute ranges on a 15-minute grid, each with a period name."""
    cuts = sorted(draw(st.sets(st.integers(0, 96), min_size=0, max_size=12)))
    ranges = []
    for a, b in itertools.pairwise(cuts):
        if draw(st.booleans()):
            ranges.append((a * 15, b * 15, draw(st.sampled_from(NAMES))))
    return ranges


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@settings(max_examples=60, deadline=None)
@given(ranges=schedules(), minutes=st.lists(st.integers(0, 1439), min_size=1, max_size=20))
def test_every_minute_maps_to_its_range_or_the_default(
    ranges: list[tuple[int, int, str]], minutes: list[int]
) -> None:
    t = parse_tariff(
        {
            "name": "prop",
            "timezone": "Asia/Shanghai",
            "source": "generated",
            "prices": {n: float(i + 1) for i, n in enumerate(NAMES)},
            "seasons": [
                {
                    "months": list(range(1, 13)),
                    "periods": [{"from": _hhmm(a), "to": _hhmm(b), "period": p} for a, b, p in ranges],
                }
            ],
        }
    )
    midnight = datetime(2026, 6, 10, tzinfo=UTC) - timedelta(hours=8)  # local midnight in UTC+8
    ts = [(midnight + timedelta(minutes=m)).timestamp() for m in minutes]
    got = [t.period_names[i] for i in t.periods_at(ts)]
    expected = [next((p for a, b, p in ranges if a <= m < b), "flat") for m in minutes]
    assert got == expected


JUNK = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 30),
    st.floats(allow_nan=True),
    st.text(max_size=6),
    st.lists(st.integers(-1, 13), max_size=3),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out += _paths(v, (*prefix, i))
    return out


SAMPLE = tomllib.loads(sample_tariff_path().read_text(encoding="utf-8"))
PATHS = _paths(SAMPLE)


@settings(max_examples=200, deadline=None)
@given(where=st.sampled_from(PATHS), junk=JUNK)
def test_junk_anywhere_raises_tariff_error_or_parses(where: tuple[Any, ...], junk: Any) -> None:
    data = copy.deepcopy(SAMPLE)
    node = data
    for key in where[:-1]:
        node = node[key]
    node[where[-1]] = junk
    try:
        parse_tariff(data)
    except TariffError as err:
        assert err.field
