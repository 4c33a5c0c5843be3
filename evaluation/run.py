"""`make eval`: runs every evaluation section against the shared datasets and writes docs/evaluation.md.

Each section is a module `evaluation/eval_<topic>.py` with `TITLE: str` and `run(datasets: Path) -> str`
returning Markdown (without its own top-level heading). A section whose data is absent says so in its text
and skips that part; a section that raises is reported as failed and the run exits non-zero.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATASETS = ROOT.parent / "shared" / "datasets"


def load_sections() -> list[object]:
    """The evaluation modules, in file-name order."""
    modules = []
    for path in sorted(Path(__file__).parent.glob("eval_*.py")):
        spec = importlib.util.spec_from_file_location(path.stem, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[path.stem] = module
        spec.loader.exec_module(module)
        modules.append(module)
    return modules


def _sections(text: str) -> list[str]:
    """The text cut before each line that starts a section (``## ``); the first piece is the preamble."""
    pieces, current = [], []
    for line in text.splitlines(keepends=True):
        if line.startswith("## ") and current:
            pieces.append("".join(current))
            current = []
        current.append(line)
    pieces.append("".join(current))
    return pieces


def splice(old: str, fresh: list[str]) -> list[str] | None:
    """The sections of ``old`` with those of the same title replaced by ``fresh`` (for ``--only``), in the
    old order; a fresh section with a new title goes at the end. None when ``old`` has no sections."""
    pieces = _sections(old)
    if len(pieces) < 2:
        return None
    title = {p.split("\n", 1)[0]: i for i, p in enumerate(pieces) if p.startswith("## ")}
    out = [p.rstrip("\n") + "\n" for p in pieces]
    for part in fresh:
        i = title.get(part.split("\n", 1)[0])
        if i is None:
            out.append(part)
        else:
            out[i] = part
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS, help="the shared datasets folder")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "evaluation.md")
    parser.add_argument(
        "--only",
        default="",
        help="run only the section of this module name (or those whose name contains it); the others are "
        "kept from --out",
    )
    args = parser.parse_args()
    parts = [
        "# Evaluation\n",
        "Written by `make eval` (`evaluation/run.py`) from the public datasets in "
        f"`{args.datasets.name}/` and the simulators' exact ground truth. Do not edit by hand.\n",
    ]
    failed = False
    modules = load_sections()
    exact = any(m.__name__ == args.only for m in modules)  # --only eval_condition: not eval_condition_sim
    for module in modules:
        name = module.__name__
        if args.only and (name != args.only if exact else args.only not in name):
            continue
        started, cpu = time.perf_counter(), time.process_time()
        try:
            body = module.run(args.datasets)  # type: ignore[attr-defined]
        except Exception:
            failed = True
            body = "**This section failed:**\n\n```\n" + traceback.format_exc() + "```\n"
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        # Wall time depends on what else runs on the machine; the process CPU time much less.
        load = f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        timing = f"ran in {took:.1f} s ({cpu:.1f} s CPU; {load})"
        parts.append(f"## {module.TITLE}\n\n{body.strip()}\n\n_Section `{name}` {timing}._\n")  # type: ignore[attr-defined]
        print(f"{name}: {timing}{' FAILED' if failed else ''}", file=sys.stderr)
    if args.only and args.out.exists():  # keep the sections that did not run
        parts = splice(args.out.read_text(encoding="utf-8"), parts[2:]) or parts
    args.out.write_text("\n".join(parts), encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
