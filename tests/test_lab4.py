"""Grade-style tests of lab 4: page-fault upcalls, fork, scheduling, IPC.

Patterns follow JOS's grade-lab4 (``.`` is any character, so ``0: I am the
parent.`` also matches dumbfork's ``!``), with brackets escaped.
"""

from __future__ import annotations

import re

import pytest

from conftest import FORKTREE_NODES, IDLE, NO_PANIC, SPIN_LINES, exits, primes_upto


# --- part A/B: page-fault upcalls -------------------------------------------------------
def test_faultdie(run_program, grade):
    text, _k, result = run_program("faultdie")
    assert result.reason == "idle"
    grade(text, required=[r"i faulted at va deadbeef, err 6", *exits("00001000")],
          forbidden=NO_PANIC)


def test_faultalloc(run_program, grade, in_order):
    text, k, result = run_program("faultalloc")
    assert result.reason == "idle"
    required = [
        r"fault deadbeef",
        r"this string was faulted in at deadbeef",
        r"fault cafebffe",
        r"fault cafec000",
        r"this string was faulted in at cafebffe",
        *exits("00001000"),
    ]
    grade(text, required=required, forbidden=NO_PANIC)
    assert in_order(text, required), text
    assert k.stats.total.get("upcalls", 0) == 3


@pytest.mark.parametrize("program, va", [
    ("faultallocbad", "deadbeef"),
    ("faultnostack", "eebfff.."),
    ("faultbadhandler", "(deadb|eebfe)..."),
    ("faultevilhandler", "(f0100|eebfe)..."),
])
def test_bad_upcall_setups_kill_the_env(run_program, grade, program, va):
    text, k, result = run_program(program)
    assert result.reason == "idle"
    grade(text, required=[
        rf"\[00001000\] user_mem_check assertion failure for va {va}",
        r"\[00001000\] free env 00001000",
        IDLE,
    ], forbidden=[*NO_PANIC, r".*exiting gracefully.*"])
    assert k.stats.total.get("upcalls", 0) == 0


def test_faultregs(run_program, grade):
    text, _k, result = run_program("faultregs")
    assert result.reason == "idle"
    grade(text, required=[
        r"Registers in UTrapframe OK",
        r"Registers after page-fault OK",
        *exits("00001000"),
    ], forbidden=[r".*MISMATCH.*", *NO_PANIC])


def test_nestedfault(run_program, grade):
    text, k, result = run_program("nestedfault")
    assert result.reason == "idle"
    grade(text, required=[r"nestedfault: OK", *exits("00001000")], forbidden=NO_PANIC)
    assert k.stats.total.get("upcalls", 0) == 2


# --- fork --------------------------------------------------------------------------------
def test_dumbfork(run_program, grade):
    text, _k, result = run_program("dumbfork")
    assert result.reason == "idle"
    grade(text, required=[
        r"\[00000000\] new env 00001000",
        r"\[00001000\] new env 00001001",
        r"0: I am the parent.",
        r"9: I am the parent.",
        r"0: I am the child.",
        r"9: I am the child.",
        r"19: I am the child.",
        *exits("00001000", "00001001"),
    ], forbidden=[r"1\d: I am the parent.", *NO_PANIC])


def test_forktree(run_program, grade):
    text, _k, result = run_program("forktree")
    assert result.reason == "idle"
    grade(text, required=[
        r"....: I am '0'",
        r"....: I am '1'",
        r"....: I am '000'",
        r"....: I am '100'",
        r"....: I am '110'",
        r"....: I am '111'",
        r"....: I am '011'",
        r"....: I am '001'",
        *exits("00001000", "00001001", "0000200."),
    ], forbidden=NO_PANIC)


def test_forktree_every_node_once(run_program):
    text, _k, _result = run_program("forktree")
    nodes = re.findall(r"^[0-9a-f]{4}: I am '([01]*)'$", text, re.M)
    assert sorted(nodes) == sorted(FORKTREE_NODES), text
    assert text.count("exiting gracefully") == len(FORKTREE_NODES)
    assert text.count("free env") == len(FORKTREE_NODES)


def test_forktree_prints_its_own_id(run_program):
    """Each node prints sys_getenvid(), which is the id of the env that exits."""
    text, _k, _result = run_program("forktree")
    printed = set(re.findall(r"^([0-9a-f]{4}): I am", text, re.M))
    created = {f"{int(i, 16):04x}" for i in re.findall(r"new env ([0-9a-f]{8})", text)}
    assert printed == created, text


def test_cowisolate(run_program, grade):
    text, _k, result = run_program("cowisolate")
    assert result.reason == "idle"
    grade(text, required=[r"cowisolate: OK", *exits("00001000", "00001001")],
          forbidden=NO_PANIC)
    assert text.count("cowisolate: OK") == 2, text


def test_cowshare(run_program, grade):
    text, _k, result = run_program("cowshare")
    assert result.reason == "idle"
    grade(text, required=[
        r"cowshare: ref before write 2",
        r"cowshare: OK",
        r"cowshare: parent OK",
        *exits("00001000", "00001001"),
    ], forbidden=NO_PANIC)


def test_cowreadonly(run_program, grade):
    text, _k, result = run_program("cowreadonly")
    assert result.reason == "idle"
    grade(text, required=[r"cowreadonly: OK", *exits("00001000", "00001001")],
          forbidden=NO_PANIC)
    assert text.count("cowreadonly: OK") == 2, text


def test_forkchain(run_program, grade, in_order):
    text, _k, result = run_program("forkchain")
    assert result.reason == "idle"
    oks = [rf"forkchain: depth {d} OK" for d in (3, 2, 1, 0)]
    grade(text, required=[
        r"\[00001000\] new env 00001001",
        r"\[00001001\] new env 00001002",
        r"\[00001002\] new env 00001003",
        *oks,
        *exits("00001000", "00001001", "00001002", "00001003"),
    ], forbidden=NO_PANIC)
    assert in_order(text, oks), text  # each level waits for its child


def test_fork_pages_all_freed_after_cow(run_program):
    """COW copies and shared frames are all released (checked by conftest too)."""
    for program in ("cowisolate", "cowshare", "cowreadonly", "forkchain", "forktree"):
        _text, k, result = run_program(program)
        assert result.reason == "idle"
        assert k.pmap.nfree == k.baseline_free, program
        assert k.pmap.free_list_length() == k.pmap.nfree, program


# --- part C: scheduling --------------------------------------------------------------------
def test_yield(run_program, grade, in_order):
    text, _k, result = run_program("yield")
    assert result.reason == "idle"
    required = [
        r"Hello, I am environment 00001000\.",
        *[rf"Back in environment 00001000, iteration {i}\." for i in range(5)],
        r"All done in environment 00001000\.",
        *exits("00001000"),
    ]
    grade(text, required=required, forbidden=NO_PANIC)
    assert in_order(text, required), text


def test_yield_three_envs_interleave(run_programs, in_order):
    text, _k, result = run_programs(["yield", "yield", "yield"])
    assert result.reason == "idle"
    ids = ["00001000", "00001001", "00001002"]
    order = [rf"Hello, I am environment {i}\." for i in ids]
    for it in range(5):
        order += [rf"Back in environment {i}, iteration {it}\." for i in ids]
    assert in_order(text, order), text  # round robin: one line each per turn


def test_spin(run_program, grade, in_order):
    text, k, result = run_program("spin")
    assert result.reason == "idle"
    grade(text, required=SPIN_LINES, forbidden=NO_PANIC)
    assert in_order(text, SPIN_LINES), text
    assert result.slices > 0  # the parent got the CPU back only by preemption
    assert k.stats.total.get("traps.timer", 0) > 0


@pytest.mark.parametrize("quantum", [10_000, 20_000, 100_000])
def test_spin_other_quanta_same_output(run_program, quantum):
    reference, _k, _r = run_program("spin")
    text, _k, result = run_program("spin", quantum=quantum)
    assert result.reason == "idle"
    assert text.splitlines() == reference.splitlines()


def test_spin_smaller_quantum_more_preemptions(run_program):
    """spin's parent yields 8 times and the child spins away each slice it gets,
    so at least 8 timer interrupts happen; with slices too short for the child's
    start-up (its copy-on-write faults, cprintf), more are needed."""
    slices = [run_program("spin", quantum=q)[2].slices for q in (50, 200, 1000, 10_000)]
    assert slices == sorted(slices, reverse=True) and slices[0] > slices[-1] >= 8, slices


def test_spin_tiny_quantum(run_program, in_order):
    """At 1000 instructions per slice the parent still preempts and kills the child.

    The child may not reach its cprintf: the parent yields only 8 times and each
    yield hands the child just the rest of the current slice (the timer is not
    reset by a yield, as with JOS's LAPIC timer), fewer instructions than the
    child's two copy-on-write faults and cprintf take.
    """
    text, _k, result = run_program("spin", quantum=1000)
    assert result.reason == "idle"
    parent_lines = [p for p in SPIN_LINES if "Spinning" not in p]
    assert in_order(text, parent_lines), text
    assert result.slices > 8, result


def test_stresssched(run_program, grade):
    text, _k, result = run_program("stresssched")
    assert result.reason == "idle"
    grade(text, required=[r"\[000010..\] stresssched on CPU 0", *exits("00001000")],
          forbidden=[r".*ran on two CPUs at once.*", *NO_PANIC])
    ids = re.findall(r"^\[(000010..)\] stresssched on CPU 0$", text, re.M)
    assert len(ids) == 20 and len(set(ids)) == 20, text


@pytest.mark.parametrize("program", ["stresssched", "forktree"])
def test_deterministic(run_programs, run_program, program):
    first, _k, _r = run_program(program)
    second, k2, _r2 = run_programs([program])
    assert first == second
    assert run_program(program)[1].stats.total == k2.stats.total


# --- part C: IPC ------------------------------------------------------------------------
def test_pingpong(run_program, grade, in_order):
    text, _k, result = run_program("pingpong")
    assert result.reason == "idle"
    lines = [r"send 0 from 1000 to 1001"]
    for i in range(11):
        lines.append(rf"1001 got {i} from 1000" if i % 2 == 0 else rf"1000 got {i} from 1001")
    grade(text, required=[*lines, *exits("00001000", "00001001")], forbidden=NO_PANIC)
    assert in_order(text, lines), text


def test_sendpage(run_program, grade, in_order):
    text, _k, result = run_program("sendpage")
    assert result.reason == "idle"
    lines = [
        r"1000 got message: hello child environment! how are you\?",
        r"child received correct message",
        r"1001 got message: hello parent environment! I'm good.?",
        r"parent received correct message",
    ]
    grade(text, required=[*lines, *exits("00001000", "00001001")], forbidden=NO_PANIC)
    assert in_order(text, lines), text


@pytest.mark.slow
def test_primes(run_program, grade):
    text, k, result = run_program("primes")
    assert result.reason == "idle", result  # a user panic ends one env, not the kernel
    primes = primes_upto(1877)
    required = [rf"CPU 0: {p} \[0000{0x1001 + i:04x}\] new env 0000{0x1002 + i:04x}"
                for i, p in enumerate(primes)]
    assert required[-1] == r"CPU 0: 1877 \[00001120\] new env 00001121"
    grade(text, required=[*required, r".*fork: out of environments", IDLE],
          forbidden=[r"kernel panic.*"])
    assert not k.envtab.live()


# --- preemption everywhere: small, odd quanta land timer interrupts inside
# upcalls, the pfentry trampoline, fork and IPC -----------------------------------------
SMALL_QUANTUM_CASES = {
    "faultregs": [r"Registers in UTrapframe OK", r"Registers after page-fault OK"],
    "faultalloc": [r"this string was faulted in at deadbeef",
                   r"this string was faulted in at cafebffe"],
    "nestedfault": [r"nestedfault: OK"],
    "cowisolate": [r"cowisolate: OK"],
    "cowshare": [r"cowshare: OK", r"cowshare: parent OK"],
    "cowreadonly": [r"cowreadonly: OK"],
    "forkchain": [rf"forkchain: depth {d} OK" for d in range(4)],
    "forktree": [rf"....: I am '{n}'" for n in FORKTREE_NODES],
    "pingpong": [r"1001 got 10 from 1000", r"1000 got 9 from 1001"],
    "sendpage": [r"child received correct message", r"parent received correct message"],
    "dumbfork": [r"9: I am the parent.", r"19: I am the child."],
    "yield": [r"All done in environment 00001000\."],
}


@pytest.mark.parametrize("quantum", [53, 211, 997, 4999])
@pytest.mark.parametrize("program", sorted(SMALL_QUANTUM_CASES))
def test_small_quantum(run_program, grade, program, quantum):
    text, _k, result = run_program(program, quantum=quantum)
    assert result.reason == "idle", result
    grade(text, required=[*SMALL_QUANTUM_CASES[program], IDLE],
          forbidden=[*NO_PANIC, r".*MISMATCH.*", r"TRAP frame.*", r".*user_mem_check.*"])
    if quantum == 53:
        assert result.slices > 0  # really preempted
