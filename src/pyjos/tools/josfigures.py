"""Your own measured JOS figures, to put beside the suite (`pyjos bench
--jos-figures FILE`).

pyjos ships no JOS constants: real JOS under QEMU varies with details of the
solution (a build whose env_run reloads CR3 on every return flushes QEMU's
TLB each time, and was measured 2.7x slower per system call than one that
does not), so a single figure would mislead.  The file is JSON::

    {
      "source": "my lab 4 solution, QEMU 8.2, this machine, 2026-12-01",
      "figures": {
        "sys_getenvid round trip": 14.3,
        "pingpong": [11, 17],
        "cow fork, N=1034: traps": 2076
      }
    }

``source`` (required) says what was measured; it is printed under the
table.  Each key of ``figures`` is a row name of the suite (SUITE_NAMES; any
subset), each value a positive number or a [low, high] range in that row's
unit (us, ms, or a plain count for traps).  docs/how-much-faster.md says how
to measure them.
"""

from __future__ import annotations

import json
from pathlib import Path

from .bench import SUITE_NAMES


class JosFiguresError(Exception):
    """The figures file cannot be read or is not in the format above."""


def load(path: Path) -> dict[str, object]:
    """The checked contents of a figures file: {"source": str, "figures": {...}}."""
    try:
        data = json.loads(path.read_text())
    except OSError as exc:
        raise JosFiguresError(f"cannot read {path}: {exc.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise JosFiguresError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("source"), str) \
            or not isinstance(data.get("figures"), dict):
        raise JosFiguresError(f"{path}: expected {{\"source\": text, \"figures\": {{...}}}}")
    for name, value in data["figures"].items():
        if name not in SUITE_NAMES:
            raise JosFiguresError(f"{path}: unknown figure {name!r} "
                                  f"(known: {', '.join(SUITE_NAMES)})")
        if not _figure(value):
            raise JosFiguresError(f"{path}: {name!r} must be a positive number or "
                                  f"[low, high], not {json.dumps(value)}")
    return {"source": data["source"], "figures": dict(data["figures"])}


def _figure(value: object) -> bool:
    def number(v: object) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0
    if isinstance(value, list):
        return len(value) == 2 and all(map(number, value)) and value[0] <= value[1]
    return number(value)
