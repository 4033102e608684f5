"""Console and counters of every bundled program, for the golden comparison.

    python3 tests/golden/capture.py > tests/golden/programs.json

regenerates tests/golden/programs.json (read by tests/test_golden.py): for each
case (program, arguments, settings) the console text and `--stats-json`'s
counters.  Run it only when a change of console or counts is intended, and say
so in the commit; tests/golden/diff.py OLD NEW lists what changed.
"""

from __future__ import annotations

import json
import sys

from pyjos.kernel import Kernel, KernelConfig

PROGRAMS = ("badsegment breakpoint buggyhello buggyhello2 cowisolate cowreadonly cowshare "
            "divzero dumbfork evilhello faultalloc faultallocbad faultbadhandler faultdie "
            "faultevilhandler faultnostack faultread faultreadkernel faultregs faultwrite "
            "faultwritekernel forkchain forktree hello nestedfault pingpong pingpongs "
            "sendpage sforkcheck sforktree softint spin stresssched testbss yield").split()
ARGS = {"primes": ["300"], "forkbench": ["64", "3", "cow"], "faultloop": ["50"],
        "ipcloop": ["50"], "syscallloop": ["50"], "yieldloop": ["20"]}
FORKING = ("forktree", "forkchain", "pingpong", "spin", "cowisolate", "cowshare", "dumbfork",
           "primes", "stresssched", "sendpage")
MAX_INSNS = 50_000_000


def cases() -> list[tuple[str, list[str], dict]]:
    out = [(p, [], {}) for p in PROGRAMS]
    out += [(p, a, {}) for p, a in ARGS.items()]
    for p in FORKING:
        for strategy in ("dumb", "cow", "batch", "kernel"):
            out.append((p, ARGS.get(p, []), {"fork": strategy}))
        out.append((p, ARGS.get(p, []), {"cow_faults": "kernel"}))
    for strategy in ("dumb", "cow", "batch", "kernel", "sfork"):
        out.append(("forkbench", ["16", "2", strategy], {}))
    return out


def key(program: str, args: list[str], settings: dict) -> str:
    extra = " ".join(f"{k}={v}" for k, v in sorted(settings.items()))
    return " ".join([program, *args]) + (f" [{extra}]" if extra else "")


def capture(program: str, args: list[str], settings: dict) -> dict:
    out: list[str] = []
    kernel = Kernel(KernelConfig(max_insns=MAX_INSNS, **settings), out=out.append)
    kernel.create_env(program, args)
    result = kernel.run()
    return {"reason": result.reason, "console": "".join(out), "stats": kernel.stats.as_dict()}


def main() -> None:
    data = {key(*c): capture(*c) for c in cases()}
    json.dump(data, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
