"""sys_batch (inc/batch.h) and sys_fork (kfork.py), tested from guest programs.

Each program (tests/guest/NAME.c) is built and run; it prints what the kernel
returned and the Python side checks it against the contract in inc/batch.h,
sentence by sentence.  Result slots the kernel did
not store keep the sentinel 0x5a5a5a5a and are printed as "-".
"""

from __future__ import annotations

import re

import pytest

from conftest import IDLE, LIMIT, NO_PANIC, check_no_leaks, guest_source
from pyjos.kernel import Kernel, KernelConfig

E_BAD_ENV, E_INVAL, E_NO_MEM, E_FAULT = -2, -3, -4, -6
BATCH_MAX = 4096
ENV0 = 0x1000  # the first env's id

# --- helpers -----------------------------------------------------------------------------
_RESULTS = re.compile(r"^([\w -]+): ret (-?\d+) results((?: (?:-?\d+|-))*)$", re.M)


def results(text: str) -> dict[str, tuple[int, list[int | None]]]:
    """{"name": (ret, [slot, ...])} from "name: ret R results a b -" lines (None: untouched)."""
    out = {}
    for name, ret, slots in _RESULTS.findall(text):
        out[name] = (int(ret), [None if s == "-" else int(s) for s in slots.split()])
    return out


def line(text: str, prefix: str) -> str:
    """The rest of the one line starting with prefix."""
    found = [ln[len(prefix):] for ln in text.splitlines() if ln.startswith(prefix)]
    assert len(found) == 1, (prefix, text)
    return found[0]


def ints(s: str) -> list[int]:
    return [int(x) for x in re.findall(r"-?\d+", s)]


@pytest.fixture(scope="module")
def batchcheck(run_programs):
    """batchcheck run once: (text, results)."""
    text, _k, result = run_programs([guest_source("batchcheck")], **LIMIT)
    assert result.reason == "idle", text
    return text, results(text)


# --- (1)-(3): order, results, stopping ----------------------------------------------------
def test_batchcheck_runs_to_the_end(batchcheck, grade):
    text, _res = batchcheck
    grade(text, required=[r"batchcheck: done", r"fault: still alive",
                          r"\[00001000\] exiting gracefully", IDLE], forbidden=NO_PANIC)
    assert line(text, "envid ") == str(ENV0)


def test_three_calls_run_and_store_results(batchcheck):
    text, res = batchcheck
    assert res["three"] == (3, [0, 0, ENV0]), text
    assert line(text, "three: mapped ") == "1 1"  # the calls had their effects


def test_stops_after_first_error(batchcheck):
    text, res = batchcheck
    assert res["stop"] == (2, [0, E_INVAL, None]), text  # the failed call counts as run
    assert line(text, "stop: mapped ") == "1 0 0"      # the third call did not run


def test_batch_continue_runs_every_call(batchcheck):
    text, res = batchcheck
    assert res["continue"] == (3, [0, E_INVAL, 0]), text
    assert line(text, "continue: mapped ") == "1 0 1"


# --- (4): each call exactly as alone ------------------------------------------------------
CHECKS = [
    E_BAD_ENV,  # page_alloc in an env that does not exist
    E_INVAL,    # page_alloc at UTOP
    E_INVAL,    # page_map with PTE_W from a read-only page
    E_INVAL,    # unknown system call 999
    E_INVAL,    # page_alloc at an unaligned va
    E_INVAL,    # env_set_status to a bad status
    E_INVAL,    # page_map of an unmapped source
    E_BAD_ENV,  # env_destroy of an env that does not exist
    0,          # page_map read-only of a read-only page
]


def test_each_call_has_its_normal_checks(batchcheck):
    text, res = batchcheck
    assert res["checks"] == (len(CHECKS), CHECKS), text
    assert res["alone"] == (len(CHECKS), CHECKS), text  # the same calls made one by one
    # the refused calls had no effect, the good one mapped the same frame
    assert line(text, "checks: mapped ") == "0 0 0 1 same frame 1"


# --- (5): the descriptor array itself ------------------------------------------------------
def test_bad_array_is_efault_and_the_caller_lives(batchcheck):
    text, _res = batchcheck
    # unmapped user va, kernel va, and user-readable but read-only (UENVS)
    assert ints(line(text, "fault: low ")) == [E_FAULT, E_FAULT, E_FAULT], text
    assert "user_mem_check" not in text and "fault: still alive" in text


def test_bad_count_flags_alignment_are_einval(batchcheck):
    text, res = batchcheck
    got = dict(re.findall(r"(\w+) (-?\d+)", "neg " + line(text, "limits: neg ")))
    assert {k: int(v) for k, v in got.items()} == {
        "neg": E_INVAL, "max": E_INVAL, "flags": E_INVAL, "high": E_INVAL,
        "align": E_INVAL, "zero": 0}, text
    assert res["limits"] == (0, [None]), text  # nothing ran, nothing stored
    assert line(text, "limits: mapped ") == "0"


def test_readonly_array_is_efault_nothing_runs(batchcheck):
    text, res = batchcheck
    assert res["rodesc"] == (E_FAULT, [None]), text
    assert line(text, "rodesc: mapped ") == "0"


def test_array_running_off_mapped_memory_is_efault(batchcheck):
    text, res = batchcheck
    assert res["edge"] == (E_FAULT, [None]), text  # two calls, the second unmapped
    assert line(text, "edge: mapped ") == "0"
    assert res["edge-one"] == (1, [0]), text       # the first alone is fine
    assert line(text, "edge-one: mapped ") == "1"


def test_call_that_protects_or_unmaps_the_array_is_efault_after_all_ran(batchcheck):
    text, res = batchcheck
    assert res["selfprotect"] == (E_FAULT, [None, None, None]), text
    assert line(text, "selfprotect: mapped ") == "1 1 w 0", text  # every call ran
    assert line(text, "selfunmap: ret ") == f"{E_FAULT} mapped 1 1 array 0", text


def test_batch_max_calls(batchcheck):
    text, _res = batchcheck
    assert line(text, "max: ret ") == f"{BATCH_MAX} right {BATCH_MAX}", text


# --- (6): calls refused inside a batch -------------------------------------------------------
@pytest.mark.parametrize("name", ["exofork", "fork", "ipc_recv", "ipc_recv-page", "batch"])
def test_refused_call_is_einval_and_stops(batchcheck, name):
    text, res = batchcheck
    assert res[f"refused {name}"] == (2, [ENV0, E_INVAL, None]), text
    assert line(text, f"refused {name}: mapped ") == "0"


def test_refused_calls_have_no_effect(batchcheck):
    text, res = batchcheck
    assert res["refused-continue"] == (2, [E_INVAL, ENV0]), text
    # no child was made, nothing blocked (the program went on to the end)
    assert re.findall(r"new env", text) == ["new env"], text


# --- (7): sys_yield and sys_env_set_status(NOT_RUNNABLE) take effect after the batch -----------
def test_yield_does_not_end_the_batch(batchcheck):
    text, res = batchcheck
    assert res["yield"] == (2, [0, ENV0]), text


@pytest.fixture(scope="module")
def bsched(run_programs):
    text, _k, result = run_programs([guest_source("bsched")], **LIMIT)
    assert result.reason == "idle", text
    return text


def test_yield_takes_effect_when_the_batch_returns(bsched, grade, in_order):
    grade(bsched, required=[r"parent: done"], forbidden=NO_PANIC)
    # the child, woken by the batch's ipc_try_send, runs on the yield: after
    # the rest of the batch, before the parent's next line
    assert in_order(bsched, [r"parent: rest of the batch ran", r"child: ran",
                             r"parent: after the batch: ret 3 results 0 0 0"]), bsched


def test_set_status_not_runnable_takes_effect_when_the_batch_returns(bsched, in_order):
    assert in_order(bsched, [r"child: rest of the batch ran",
                             r"parent: child not runnable: 1",
                             r"child: woken: ret 3 results 0 0 1",
                             r"parent: done"]), bsched


# --- (8): sys_env_destroy of the caller ends the batch ------------------------------------------
@pytest.mark.parametrize("how", ["zero", "self"])
def test_env_destroy_of_caller_ends_the_batch(run_programs, grade, how):
    text, _k, result = run_programs([guest_source("bdestroy")], [how], **LIMIT)
    assert result.reason == "idle", text
    grade(text, required=[r"\[00001001\] exiting gracefully", r"\[00001001\] free env 00001001",
                          r"\[00001000\] exiting gracefully"],
          forbidden=[r".*SHOULD NOT PRINT.*", r".*destroying.*", *NO_PANIC])
    # seen by the parent through the shared page: nothing was stored, not even
    # the result of the call before the destroy (the later ones never ran)
    assert line(text, "child 4097 results ") == "- - - -", text


# --- (9): result slots on a page the batch made copy-on-write -----------------------------------
@pytest.fixture(scope="module")
def bcow(run_programs):
    text, k, result = run_programs([guest_source("bcow")], **LIMIT)
    assert result.reason == "idle", text
    return text, k


def test_cow_parent_results_land(bcow, grade):
    text, _k = bcow
    grade(text, required=[r"bcow: done", r"\[00001000\] destroying 00001001"],
          forbidden=NO_PANIC)
    assert line(text, "ret ") == "5", text
    assert line(text, "parent: ") == f"0 0 {ENV0} 0 {ENV0}", text
    # the kernel gave the parent its own writable copy, as a write fault would
    assert line(text, "parent pte: ") == (
        "before w 1 cow 0; after w 1 cow 0; frame changed 1; ref 1"), text


def test_cow_child_keeps_the_original_page(bcow):
    text, k = bcow
    assert line(text, "child frame is the original ") == "1; ref 2", text
    # the results are stored after every call ran, in the parent's own copy:
    # the child sees none of them, not even that of the call that gave it the page
    assert line(text, "child: ").split() == ["-"] * 5, text
    assert k.stats.total.get("pages_copied", 0) == 1, k.stats.total


def test_cow_copy_fails_enomem_after_the_calls_ran(run_programs):
    """-E_NO_MEM: the results' copy-on-write page cannot be copied; the calls ran."""
    text, _k, result = run_programs([guest_source("bnomem")], mem=8 * 1024 * 1024,
                                    **LIMIT)
    assert result.reason == "idle", text
    assert "panic" not in text, text
    # both calls ran (the second upcall is the one set) but no slot was
    # stored, and the page is still copy-on-write
    assert line(text, "nomem: filled ") == (
        f"1 ret {E_NO_MEM} upcall 00805678 slots 5a5a5a5a 5a5a5a5a 5a5a5a5a cow 1"), text
    # with memory back, the same batch copies the page and stores them all
    assert line(text, "nomem: retry ret ") == "3 slots 0 0 1 cow 0 w 1", text
    assert line(text, "nomem: alias untouched ") == "1", text


# --- (10): counters ------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bcount(run_programs):
    path = guest_source("bcount")
    runs = {}
    for mode in ("none", "alone", "batch"):
        text, k, result = run_programs([path], [mode], **LIMIT)
        assert result.reason == "idle" and "bcount: done" in text, text
        runs[mode] = k.stats.total
    return runs


def _diff(a: dict[str, int], b: dict[str, int], key: str) -> int:
    return a.get(key, 0) - b.get(key, 0)


def test_calls_in_a_batch_count_under_their_own_names(bcount):
    none, alone, batch = bcount["none"], bcount["alone"], bcount["batch"]
    for key in ("syscalls.page_alloc", "syscalls.getenvid"):
        assert _diff(alone, none, key) == 3, key
        assert _diff(batch, none, key) == 3, key
    # the same effects: three pages and their page table
    assert _diff(batch, none, "pages_allocated") == _diff(alone, none, "pages_allocated") == 4
    assert batch.get("syscalls.unknown", 0) == 0


def test_a_batch_is_one_trap(bcount):
    none, alone, batch = bcount["none"], bcount["alone"], bcount["batch"]
    assert _diff(alone, none, "traps.syscall") == 6
    assert _diff(batch, none, "traps.syscall") == 3  # three batches of two calls
    assert _diff(batch, none, "syscalls.batch") == 3
    assert alone.get("syscalls.batch", 0) == none.get("syscalls.batch", 0) == 0


# --- sys_fork -------------------------------------------------------------------------------
_ROW = re.compile(r"(\w+) ([0-9a-f]{8}) perm ([0-9a-f]{3})")


@pytest.fixture(scope="module")
def kfork(run_programs):
    text, k, result = run_programs([guest_source("kfork")], **LIMIT)
    assert result.reason == "idle", text
    return text, k


def _pages(text: str, who: str) -> dict[str, tuple[int, int]]:
    rest = line(text, f"{who}: rw ")
    return {name: (int(frame, 16), int(perm, 16))
            for name, frame, perm in _ROW.findall("rw " + rest)}


def test_sys_fork_returns_twice(kfork, grade):
    text, k = kfork
    grade(text, required=[
        r"\[00001000\] new env 00001001",
        r"parent: child 00001001",
        r"child: fork returned 0, I am 00001001, parent 00001000",
        r"\[00001001\] exiting gracefully", r"\[00001000\] exiting gracefully",
    ], forbidden=[*NO_PANIC, r".* is writable.*"])
    assert k.stats.total.get("syscalls.fork") == 1
    assert k.stats.total.get("fork.calls") == 1 and k.stats.total.get("fork.traps") == 1


def test_sys_fork_child_has_the_upcall_and_a_fresh_exception_stack(kfork):
    text, _k = kfork
    upcall, lib = line(text, "child: upcall ").split(" lib ")
    assert upcall == lib == line(text, "parent: upcall ") and int(upcall, 16) != 0, text
    parent = line(text, "parent: xstack ").split()
    child = line(text, "child: xstack ").split()
    assert parent[0] != child[0], text                # its own frame
    assert parent[2] == child[2] == "007", text      # P|U|W, not COW


def test_sys_fork_page_rules(kfork):
    text, _k = kfork
    parent, child = _pages(text, "parent"), _pages(text, "child")
    PTE_COW, PTE_SHARE, PU = 0x800, 0x400, 0x5
    # writable pages: the same frame, copy-on-write in both, never writable
    for name in ("rw", "data"):
        assert child[name][1] == parent[name][1] == PU | PTE_COW, (name, text)
    assert child["rw"][0] == parent["rw"][0], text
    # read-only: shared read-only
    assert child["ro"] == parent["ro"] and child["ro"][1] == PU, text
    # PTE_SHARE: shared with the same permissions
    assert child["sh"] == parent["sh"] and child["sh"][1] == PU | 0x2 | PTE_SHARE, text
    # no page left writable but not copy-on-write, in either env
    assert re.search(r"^parent: walk cow pages [1-9]\d* bad 0$", text, re.M), text
    assert re.search(r"^child: walk cow pages [1-9]\d* bad 0$", text, re.M), text


def test_sys_fork_isolation_and_sharing(kfork):
    text, _k = kfork
    assert line(text, "child: sees ") == "11 22 33 7 1", text
    # the child's writes: the shared page is seen, the copy-on-write ones are not
    assert line(text, "parent: sees ") == "11 22 44 7 1", text
    rw_now = line(text, "child: after writes rw ").split()
    assert int(rw_now[0], 16) != _pages(text, "parent")["rw"][0] and rw_now[2] == "007", text


def test_sys_fork_out_of_memory_is_atomic(grade):
    """sys_fork until -E_NO_MEM: no half-made child, nothing leaked, the parent goes on.

    6 MiB: small enough to run out, and the parent's own copy-on-write faults
    after the last successful fork still find a page (at some sizes, e.g.
    8 MiB, they do not, and the parent's handler panics: the children's pages
    are overcommitted, which sys_fork's atomicity does not cover).
    """
    out: list[str] = []
    k = Kernel(KernelConfig(mem=6 * 1024 * 1024, **LIMIT), out=out.append)
    k.create_env(guest_source("kexhaust"))
    result = k.run()
    text = "".join(out)
    check_no_leaks(k, result, text)
    assert result.reason == "idle", text[-2000:]
    m = re.search(r"^sys_fork failed after (\d+) children: out of memory$", text, re.M)
    assert m and int(m.group(1)) > 1, text[-2000:]
    live, alive = ints(line(text, "live envs "))
    assert live == alive + 1, text[-2000:]   # the parent and its children, no half-made one
    assert alive > 0
    grade(text, required=[r"kexhaust: parent done", IDLE], forbidden=[r"kernel panic.*"])
    panics = re.findall(r"^\[([0-9a-f]{8})\] user panic in \S+ at (.*)$", text, re.M)
    assert all(who != "00001000" for who, _m in panics), panics[:3]
    assert all(re.fullmatch(r"lib/fork\.c:\d+: fork pgfault: .*out of memory", msg)
               for _who, msg in panics), panics[:3]
    assert k.stats.total.get("fork.calls") == int(m.group(1))
    assert not k.envtab.live()
    assert k.pmap.nfree == k.baseline_free
