"""Every bundled program prints the same console and the same counters as recorded.

tests/golden/programs.json holds, for each case of tests/golden/capture.py
(program, arguments, fork strategy, who resolves copy-on-write faults), the
run's end reason, console text and `--stats-json` counters (global and per
env).  A change to the kernel that alters any of them fails here; when such a
change is intended, regenerate the file with capture.py and say so in the commit.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
sys.path.insert(0, str(GOLDEN))
import capture  # noqa: E402  (tests/golden/capture.py)

RECORDED = json.loads((GOLDEN / "programs.json").read_text())
CASES = capture.cases()


def test_the_recording_covers_every_case():
    assert sorted(RECORDED) == sorted(capture.key(*case) for case in CASES)


@pytest.mark.parametrize("case", CASES, ids=[capture.key(*c) for c in CASES])
def test_console_and_counts_as_recorded(case):
    want = RECORDED[capture.key(*case)]
    got = capture.capture(*case)
    assert got["reason"] == want["reason"]
    assert got["console"] == want["console"]
    assert got["stats"]["total"] == want["stats"]["total"]
    assert got["stats"]["per_env"] == want["stats"]["per_env"]
