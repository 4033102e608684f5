"""sfork (issue 5): shared memory but private stacks, and a thisenv that stays right."""

from __future__ import annotations

import re

import pytest

from conftest import NO_PANIC, guest_source

PINGPONGS = [
    "i am 00001000; thisenv is 0xeec00000",
    "send 0 from 1000 to 1001",
    *[f"{'1001' if i % 2 == 0 else '1000'} got {i} from {'1000' if i % 2 == 0 else '1001'} "
      f"(thisenv is {'0xeec0007c 1001' if i % 2 == 0 else '0xeec00000 1000'})" for i in range(11)],
]


def test_pingpongs_exact(run_program, grade):
    text, _k, result = run_program("pingpongs")
    assert result.reason == "idle"
    got = [line for line in text.splitlines() if line in PINGPONGS]
    assert got == PINGPONGS, text
    grade(text, forbidden=NO_PANIC)


def test_sforktree(run_program, grade):
    text, _k, result = run_program("sforktree")
    assert result.reason == "idle"
    nodes = re.findall(r"^[0-9a-f]{4}: I am '([01]*)'$", text, re.M)
    assert len(nodes) == 15 and len(set(nodes)) == 15, text
    grade(text, forbidden=NO_PANIC)


SFORKCHECK_OK = [
    "thisenv in the parent", "thisenv in the sforked child", "the child's counter is seen",
    "the child's .data and .bss writes are seen", "the parent's stack is its own",
    "a page mapped by the child after sfork is not the parent's",
    "the parent's .data and .bss writes are seen", "the child's stack is its own",
    "thisenv in a fork of an sforked child", "a fork of an sforked child does not share",
    "thisenv in an sfork of an sforked child", "an sfork of an sforked child shares",
]


def test_sforkcheck(run_program, grade):
    text, _k, result = run_program("sforkcheck")
    assert result.reason == "idle"
    grade(text, required=[re.escape(f"sforkcheck: {w} OK") for w in SFORKCHECK_OK]
          + ["sforkcheck: done"], forbidden=NO_PANIC)


def test_frames_shared_except_stack_and_thisenv(run_programs):
    text, _k, result = run_programs([guest_source("sframes")])
    assert result.reason == "idle"
    rows = dict(re.findall(r"^(parent|child) (.*)$", text, re.M))
    parent = dict(zip(rows["parent"].split()[::2], rows["parent"].split()[1::2], strict=True))
    child = dict(zip(rows["child"].split()[::2], rows["child"].split()[1::2], strict=True))
    assert parent["data"] == child["data"], text          # shared writable page
    assert parent["rodata"] == child["rodata"], text      # shared read-only page
    assert parent["rodata-w"] == child["rodata-w"] == "0", text
    assert parent["stack"] != child["stack"], text        # copy-on-write stack
    assert parent["thisenv"] != child["thisenv"], text    # private .thisenv page


@pytest.mark.parametrize("mem, error", [(128, "out of environments"), (8, "out of memory")])
def test_sfork_exhaustion_leaves_nothing_behind(run_programs, mem, error):
    text, k, result = run_programs([guest_source("exhaust")], ["sfork"], mem=mem * 1024 * 1024)
    assert result.reason == "idle", text[-2000:]
    assert re.search(rf"^sfork failed after \d+ children: {error}$", text, re.M), text[-2000:]
    # Out of memory, a started child may fail its own copy-on-write fault; its
    # handler panics, which ends that child only.  Nothing else may panic.
    panics = re.findall(r"user panic in \S+ at (.*)", text)
    allowed = r"lib/fork\.c:\d+: fork pgfault: sys_page_alloc: out of memory"
    assert all(re.fullmatch(allowed, p) for p in panics) and (mem < 128 or not panics), panics[:3]
    # conftest's check: every page back on the free list, no env alive
    assert k.pmap.nfree == k.baseline_free
