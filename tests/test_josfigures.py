"""--jos-figures: the user's own JOS figures beside the suite; no built-in
JOS constants."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from pyjos.tools import bench, josfigures, report

GOOD = {"source": "lab 4, QEMU 8.2, reloads CR3 on every return",
        "figures": {"sys_getenvid round trip": 14.3, "pingpong": [11, 17],
                    "cow fork, N=1034: traps": 2076}}


def _rows() -> list[dict[str, object]]:
    return [{"name": "sys_getenvid round trip", "unit": "us", "value": 2.9,
             "models": {"i386": 9.6, "p4": 0.4}},
            {"name": "pingpong", "unit": "ms", "value": 22.0, "models": {"i386": 10.0}},
            {"name": "cow fork, N=1034: the call", "unit": "ms", "value": 40.0, "models": None}]


def test_load_and_attach(tmp_path):
    path = tmp_path / "jos.json"
    path.write_text(json.dumps(GOOD))
    jos = josfigures.load(path)
    assert jos == GOOD
    rows = _rows()
    bench.attach_jos(rows, jos)
    assert [r["reference"] for r in rows] == [14.3, [11, 17], None]
    assert [r["ratio"] for r in rows] == [round(2.9 / 14.3, 3), 2.0, None]
    table = report.suite_table(rows, ["i386", "p4"], jos["source"])
    assert "JOS (yours)" in table and "11-17 ms" in table and GOOD["source"] in table


def test_without_figures_no_jos_column_and_no_constants():
    rows = _rows()
    bench.attach_jos(rows, None)
    assert all(r["reference"] is None and r["ratio"] is None for r in rows)
    table = report.suite_table(rows, ["i386", "p4"])
    assert "JOS" not in table.splitlines()[0]
    assert "--jos-figures FILE" in table
    assert not hasattr(bench, "JOS_REFERENCE_MS")


@pytest.mark.parametrize("text, message", [
    ("{", "is not JSON"),
    ("[1, 2]", "expected"),
    ('{"figures": {}}', "expected"),
    ('{"source": "x", "figures": {"pingpon": 3}}', "unknown figure 'pingpon'"),
    ('{"source": "x", "figures": {"pingpong": -1}}', "must be a positive number"),
    ('{"source": "x", "figures": {"pingpong": [17, 11]}}', "must be a positive number"),
    ('{"source": "x", "figures": {"pingpong": true}}', "must be a positive number"),
])
def test_bad_files_are_one_clear_line(tmp_path, text, message):
    path = tmp_path / "jos.json"
    path.write_text(text)
    with pytest.raises(josfigures.JosFiguresError, match=message):
        josfigures.load(path)
    done = subprocess.run([sys.executable, "-m", "pyjos", "bench", "--jos-figures", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("pyjos: ") and len(done.stderr.splitlines()) == 1


def test_unreadable_file(tmp_path):
    with pytest.raises(josfigures.JosFiguresError, match="cannot read"):
        josfigures.load(tmp_path / "missing.json")
