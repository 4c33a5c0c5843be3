"""`make eval`'s writer: a run with --only replaces its own sections and keeps the others."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("eval_run", ROOT / "evaluation" / "run.py")
assert _spec is not None and _spec.loader is not None
run = importlib.util.module_from_spec(_spec)
sys.modules["eval_run"] = run
_spec.loader.exec_module(run)

OLD = (
    "# Evaluation\n\nWritten by make eval.\n\n"
    "## A\n\nold a\n\n### sub\n\nmore a\n\n_Section `eval_a` ran in 1.0 s._\n\n"
    "## B\n\nold b\n\n_Section `eval_b` ran in 2.0 s._\n"
)


def test_only_run_replaces_its_section_and_keeps_the_others_in_order() -> None:
    fresh = "## A\n\nnew a\n\n_Section `eval_a` ran in 9.0 s._\n"
    text = "\n".join(run.splice(OLD, [fresh]))
    assert text.index("new a") < text.index("old b")
    assert "old a" not in text and "more a" not in text and "1.0 s" not in text
    assert "_Section `eval_b` ran in 2.0 s._" in text and text.startswith("# Evaluation\n")
    assert "\n".join(run.splice(OLD, [])) == OLD  # nothing fresh: the file is unchanged


def test_a_new_section_goes_at_the_end_and_a_file_without_sections_is_not_spliced() -> None:
    text = "\n".join(run.splice(OLD, ["## C\n\nnew c\n"]))
    assert text.endswith("## C\n\nnew c\n") and "old a" in text and "old b" in text
    assert run.splice("# Evaluation\n\nnothing yet\n", ["## A\n\nx\n"]) is None
