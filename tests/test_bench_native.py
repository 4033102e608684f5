"""bench fork to large N: memory plans, page-table pages, the native
reference row (host/forknative.c) and the plot.  No timing assertions."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

from pyjos.abi import FORK_KINDS

from pyjos.kernel.pmap import MAX_MEM
from pyjos.tools import bench
from pyjos.tools.cli import make_parser


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pyjos", *args], capture_output=True, text=True,
                          timeout=600)


def test_pages_accepts_131072_and_no_more():
    assert make_parser().parse_args(["bench", "fork", "--pages", "0,131072"]).pages == [0, 131072]
    done = run_cli("bench", "fork", "--pages", "131073")
    assert done.returncode == 2 and "page counts must be 0 to 131072" in done.stderr


def test_default_sweep_reaches_65536_and_help_says_it_is_slow():
    assert bench.DEFAULT_FORK_PAGES[-1] == 65536
    text = " ".join(run_cli("bench", "--help").stdout.split())
    assert "65536" in text and "minutes" in text


@pytest.mark.parametrize("strategy", FORK_KINDS)
def test_fork_plan_fits_in_memory(strategy):
    for pages in (0, 1024, 16384, 65536, 131072):
        plan = bench.fork_plan(strategy, pages, 5)
        if plan is None:
            assert strategy == "dumb" and pages == 131072  # 2 x 512 MiB + the kernel
            continue
        mem, forks = plan
        assert mem <= MAX_MEM and mem % (4 << 20) == 0 and 1 <= forks <= 5
        if pages <= 16384:
            assert forks == 5
    assert bench.fork_plan("dumb", 65536, 5)[1] < 5


def test_skipped_cases_say_why():
    notes = bench.skipped_cases(["dumb", "kernel"], [1024, 131072], 5)
    assert notes == ["dumb fork at N=131072: not measured, needs more than 1024 MiB"]


def test_native_row_measures_each_fork():
    row = bench.bench_native(64, 3, 2)
    if row is None:
        pytest.skip("no host C compiler")
    assert row["strategy"] == "native" and row["pages"] == 64 and row["forks"] == 3
    assert 0 < row["ms_per_fork_min"] <= row["ms_per_fork"]
    assert row["ms_per_fork_cycle"] > 0


def test_bench_fork_json_native_and_page_tables(tmp_path):
    png = tmp_path / "f.png"
    done = run_cli("bench", "fork", "--strategy", "cow,kernel", "--pages", "0,2048",
                   "--forks", "1", "--repeat", "1", "--model", "i386", "--json",
                   "--plot", str(png))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    rows = {(r["strategy"], r["pages"]): r for r in data["results"]}
    # the child gets a page table per table of the parent: 2048 pages are 2 more
    for s in ("cow", "kernel"):
        assert rows[(s, 2048)]["pt_pages_per_fork"] - rows[(s, 0)]["pt_pages_per_fork"] == 2
    assert rows[("cow", 2048)]["pt_pages_per_fork"] == rows[("kernel", 2048)]["pt_pages_per_fork"]
    if data["native"]:
        assert [r["pages"] for r in data["native"]] == [0, 2048]
        for r in data["results"]:
            assert r["native_ms_per_fork_cycle"] > 0 and r["native_ms_per_fork"] > 0
        assert len(data["native_answers"]) == 4
        for line in data["native_answers"]:
            speed = r"(\d+\.\dx (faster|slower)|not measurably faster or slower)"
            assert re.fullmatch(rf"N=\d+: \w+ fork cycle is {speed} than native "
                                rf"\(call {speed}; measured\)", line), line
    else:
        assert data["notes"] == ["no native row: no host C compiler works"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bench_fork_table_has_native_row():
    done = run_cli("bench", "fork", "--strategy", "kernel", "--pages", "16", "--forks", "1",
                   "--repeat", "1", "--model", "i386")
    assert done.returncode == 0, done.stderr
    assert "PT pages" in done.stdout and "x nat cyc" in done.stdout
    assert re.search(r"^\s+native(\s+-){7}\s+\d", done.stdout, re.M), done.stdout
