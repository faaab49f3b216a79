"""`make bench`: run the benchmarks against the native stack and append the figures to docs/benchmarks.md.

`python -m tests.bench [--only stack,dispatch,...]`. Benchmarks measure; they are not tests and never fail
on a missed goal (the verdict column says so).
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from services.shared.rtc_exit import exit_process
from services.shared.settings import Settings, load_settings_or_exit
from tests.bench.report import Section, append_run

# name -> (module, function): each function takes the settings of a running stack and returns a Section.
BENCHES: dict[str, tuple[str, str]] = {
    "stack": ("tests.bench.bench_stack", "bench_warm_up"),
    "dispatch": ("tests.bench.bench_dispatch", "bench_dispatch"),
    "browser": ("tests.browser.bench_connect", "bench_connect"),
    "voice": ("tests.bench.bench_voice", "bench_voice"),
    "browser-voice": ("tests.browser.bench_voice_page", "bench_voice_page"),  # the same turns, heard at the page
    "letta": ("tests.bench.bench_letta", "bench_letta"),
    "memory": ("tests.bench.bench_memory", "bench_memory"),
    "stt": ("tests.bench.bench_stt", "bench_stt"),
    "capacity": ("tests.bench.bench_capacity", "bench_capacity"),
    # switches the stack to a scripted cloud vendor (tests/scripted_vendor.py) and back
    "capacity-remote": ("tests.bench.bench_capacity_remote", "bench_capacity_remote"),
    "recovery": ("tests.bench.bench_recovery", "bench_recovery"),  # last: it kills the agent worker
}


def load(name: str) -> Callable[[Settings], Section] | None:
    module_name, func = BENCHES[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError:
        return None
    return getattr(module, func, None)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.bench", description=__doc__)
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES))
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")
    settings = load_settings_or_exit()
    sections = []
    for name in names:
        bench = load(name)
        if bench is None:
            print(f"== {name}: not available in this checkout, skipped")
            continue
        print(f"== {name}", flush=True)
        sections.append(bench(settings))
    append_run(sections)
    return 0


if __name__ == "__main__":
    exit_process(main())
