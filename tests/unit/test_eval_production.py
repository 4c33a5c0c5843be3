"""OEE availability and performance on the real SME data (skipped when the data set is absent)."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATASETS = Path(os.environ.get("OPENIIOT_DATASETS", ROOT.parent / "shared" / "datasets"))


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "eval_production", ROOT / "evaluation" / "eval_production.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["eval_production"] = module
    spec.loader.exec_module(module)
    return module


ev = _module()


def test_oee_per_machine_and_day_on_real_data() -> None:
    path = DATASETS / "sme-manufacturing-company-a" / ev.FILE
    if not path.is_file():
        pytest.skip(f"{path} is absent; this test runs on the real public data only")
    data = ev.load(path)
    assert sorted(data) == ["0", "1", "2"]
    results = {a: ev.analyse(a, rows) for a, rows in data.items()}
    assert sum(m.total.produced for m in results.values()) == pytest.approx(40_067)  # SOURCE.md total
    for m in results.values():
        t = m.total
        losses = sum(t.downtime_by_reason.values())
        assert t.production_s + losses == pytest.approx(t.planned_busy_s)
        assert 0 < t.availability <= 1  # type: ignore[operator]
        assert 0.5 < t.performance < 1.2  # type: ignore[operator]  # relative to the demonstrated best rate
        assert sum(d.planned_busy_s for _, d in m.days) == pytest.approx(t.planned_busy_s)
    # Status 3 rows: none on machine 0, 30 on machine 1, 172 on machine 2.
    assert results["0"].rel.failures == 0
    assert 0 < results["1"].rel.failures < results["2"].rel.failures
    assert results["2"].total.downtime_by_reason["alarm"] == pytest.approx(results["2"].rel.repair_s)
    text = ev.run(DATASETS)
    assert "| 2 | 2022-09-" in text and "Performance" in text


def test_section_skips_with_a_sentence_when_the_data_is_absent(tmp_path: Path) -> None:
    assert ev.run(tmp_path).startswith("Skipped:")
