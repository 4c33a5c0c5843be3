"""Run a Python module with cProfile in every thread, for profiling an ingest worker under load.

    python benchmarks/thread_profile.py OUT_DIR -m openiiot.cli.app serve --role ingest

cProfile follows one thread; the ingest worker's cost is in paho's network thread and the ingest thread, so
every thread started after this wrapper gets its own profiler, timed by the thread's CPU clock (waiting for
the database or the network costs nothing), written to OUT_DIR/<pid>-<thread>.prof when
the thread ends (the main thread's at exit). `python -m pstats` or `benchmarks/thread_profile.py --show`
reads them. Profiling roughly doubles the cost of Python code: compare shares, not absolute times.
"""

from __future__ import annotations

import atexit
import cProfile
import os
import pstats
import runpy
import sys
import threading
import time
from pathlib import Path


def _install(out_dir: Path) -> None:
    original_run = threading.Thread.run

    def profiled_run(self: threading.Thread) -> None:
        profiler = cProfile.Profile(time.thread_time)
        profiler.enable()
        try:
            original_run(self)
        finally:
            profiler.disable()
            profiler.dump_stats(out_dir / f"{os.getpid()}-{self.name}.prof")

    threading.Thread.run = profiled_run  # type: ignore[method-assign]
    main = cProfile.Profile(time.thread_time)
    main.enable()

    def dump_main() -> None:
        main.disable()
        main.dump_stats(out_dir / f"{os.getpid()}-main.prof")

    atexit.register(dump_main)


def show(paths: list[str], limit: int = 40) -> None:
    """Print the merged profiles, by own time and by cumulative time."""
    stats = pstats.Stats(*paths)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(limit)


def main() -> None:
    """`OUT_DIR -m MODULE ARGS...` or `--show FILES...`."""
    if sys.argv[1] == "--show":
        show(sys.argv[2:])
        return
    out_dir = Path(sys.argv[1])
    out_dir.mkdir(parents=True, exist_ok=True)
    if sys.argv[2] != "-m":
        raise SystemExit("usage: thread_profile.py OUT_DIR -m MODULE [ARGS...]")
    module = sys.argv[3]
    sys.argv = [module, *sys.argv[4:]]
    _install(out_dir)
    runpy.run_module(module, run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
