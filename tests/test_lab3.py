"""Grade-style tests of lab 3 (user environments, faults, system calls, the monitor).

Each test runs one bundled guest program and matches its console output the
way JOS's grade-lab3 does.
"""

from __future__ import annotations

import pytest

from conftest import IDLE

NEW_ENV = r"\[00000000\] new env 00001000"
FREE_ENV = r"\[00001000\] free env 00001000"


def test_hello(run_program, grade):
    text, _k, result = run_program("hello")
    assert result.reason == "idle"
    grade(text, required=[
        NEW_ENV,
        r"hello, world",
        r"i am environment 00001000",
        r"\[00001000\] exiting gracefully",
        FREE_ENV,
        IDLE,
    ])


def test_hello_counts_its_syscalls(run_program):
    _text, k, _result = run_program("hello")
    assert k.stats.total["syscalls.getenvid"] >= 1
    assert k.stats.total["traps.syscall"] >= 3  # cputs x2, getenvid, env_destroy


@pytest.mark.parametrize("program, va, err", [
    ("faultread", "00000000", r"0x00000004 \[user, read, not-present\]"),
    ("faultwrite", "00000000", r"0x00000006 \[user, write, not-present\]"),
    ("faultreadkernel", "f0100000", r"0x00000005 \[user, read, protection\]"),
    ("faultwritekernel", "f0100000", r"0x00000007 \[user, write, protection\]"),
])
def test_user_page_faults(run_program, grade, program, va, err):
    text, _k, result = run_program(program)
    assert result.reason == "idle"
    grade(text, required=[
        NEW_ENV,
        rf"\[00001000\] user fault va {va} ip 008.....",
        r"TRAP frame at 0xf....... from CPU 0",
        r"  trap 0x0000000e Page Fault",
        rf"  cr2  0x{va}",
        rf"  err  {err}",
        FREE_ENV,
        IDLE,
    ], forbidden=[
        r"I read ........ from location 0!",
        r".*exiting gracefully.*",
    ])


def test_faultread_trapframe_format(run_program, in_order):
    """Every line of JOS's print_trapframe, in order, in its exact format."""
    text, _k, _result = run_program("faultread")
    frame = [
        r"\[00001000\] user fault va 00000000 ip 008.....",
        r"TRAP frame at 0xf....... from CPU 0",
        r"  edi  0x[0-9a-f]{8}",
        r"  esi  0x[0-9a-f]{8}",
        r"  ebp  0xeebf[0-9a-f]{4}",
        r"  oesp 0x[0-9a-f]{8}",
        r"  ebx  0x[0-9a-f]{8}",
        r"  edx  0x[0-9a-f]{8}",
        r"  ecx  0x[0-9a-f]{8}",
        r"  eax  0x[0-9a-f]{8}",
        r"  es   0x----0023",
        r"  ds   0x----0023",
        r"  trap 0x0000000e Page Fault",
        r"  cr2  0x00000000",
        r"  err  0x00000004 \[user, read, not-present\]",
        r"  eip  0x008[0-9a-f]{5}",
        r"  cs   0x----001b",
        r"  flag 0x[0-9a-f]{8}",
        r"  esp  0xeebf[0-9a-f]{4}",
        r"  ss   0x----0023",
        FREE_ENV,
    ]
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if "user fault" in line)
    block = lines[start:start + len(frame)]
    assert in_order("\n".join(block), frame) and len(block) == len(frame), text
    # The fault line's ip and the frame's eip agree.
    ip = lines[start].split()[-1]
    assert f"  eip  0x{ip}" in lines, text


def test_faultread_eflags_has_interrupts_enabled(run_program):
    text, _k, _result = run_program("faultread")
    flag = next(line for line in text.splitlines() if line.startswith("  flag "))
    assert int(flag.split()[1], 16) & 0x200, text  # FL_IF: user code runs with IF set


@pytest.mark.parametrize("program, va", [
    ("buggyhello", "00000001"),
    ("buggyhello2", "0....000"),
    ("evilhello", "f0100..."),
])
def test_user_mem_check(run_program, grade, program, va):
    text, _k, result = run_program(program)
    assert result.reason == "idle"
    grade(text, required=[
        NEW_ENV,
        rf"\[00001000\] user_mem_check assertion failure for va {va}",
        FREE_ENV,
        IDLE,
    ], forbidden=[r"hello, world", r".*exiting gracefully.*"])


def test_divzero(run_program, grade):
    text, _k, result = run_program("divzero")
    assert result.reason == "idle"
    grade(text, required=[
        r"TRAP frame at 0xf....... from CPU 0",
        r"  trap 0x00000000 Divide error",
        r"  eip  0x008.....",
        r"  ss   0x----0023",
        FREE_ENV,
        IDLE,
    ], forbidden=[r"1/0 is ........!", r"  cr2  .*"])


def test_softint(run_program, grade):
    text, _k, result = run_program("softint")
    assert result.reason == "idle"
    grade(text, required=[
        r"  trap 0x0000000d General Protection",
        r"  err  0x00000072",  # int $14 from ring 3: #GP with the IDT selector 14*8+2
        FREE_ENV,
    ], forbidden=[r"  trap 0x0000000e Page Fault"])


def test_badsegment(run_program, grade):
    text, _k, result = run_program("badsegment")
    assert result.reason == "idle"
    grade(text, required=[
        r"  trap 0x0000000d General Protection",
        r"  err  0x00000028",
        FREE_ENV,
    ], forbidden=[r"  trap 0x0000000e Page Fault"])


def test_testbss(run_program, grade):
    text, _k, result = run_program("testbss")
    assert result.reason == "idle"
    grade(text, required=[
        r"Making sure bss works right\.\.\.",
        r"Yes, good\.  Now doing a wild write off the end\.\.\.",
        r"\[00001000\] user fault va 00c..... ip 008.....",
        r"  err  0x00000006 \[user, write, not-present\]",
        FREE_ENV,
    ], forbidden=[r".*SHOULD HAVE TRAPPED.*"])


# --- the breakpoint and the kernel monitor ---------------------------------------------
def test_breakpoint_stops_in_monitor(run_program, grade):
    text, k, result = run_program("breakpoint")
    assert result.reason == "monitor", text
    grade(text, required=[
        r"Welcome to the JOS kernel monitor!",
        r"TRAP frame at 0xf....... from CPU 0",
        r"  trap 0x00000003 Breakpoint",
        r"  eip  0x008.....",
        r"  cs   0x----001b",
    ], forbidden=[FREE_ENV, r".*exiting gracefully.*"])
    assert len(k.envtab.live()) == 1  # the env stays alive in the monitor


def test_breakpoint_backtrace_then_continue(run_program, grade, in_order):
    text, _k, result = run_program("breakpoint", monitor_input=["backtrace", "continue"])
    assert result.reason == "idle", text
    grade(text, required=[
        r"  trap 0x00000003 Breakpoint",
        r"Stack backtrace:",
        r".*umain.*",
        r"\[00001000\] exiting gracefully",
        FREE_ENV,
        IDLE,
    ])
    assert in_order(text, [r"Stack backtrace:", r".*umain.*",
                           r"\[00001000\] exiting gracefully", FREE_ENV]), text


def test_breakpoint_quit(run_program, grade):
    text, k, result = run_program("breakpoint", monitor_input=["quit"])
    assert result.reason == "monitor", text
    grade(text, required=[r"  trap 0x00000003 Breakpoint"],
          forbidden=[r".*exiting gracefully.*", FREE_ENV, IDLE])


def test_monitor_commands(run_program, grade):
    text, _k, result = run_program(
        "breakpoint", monitor_input=["help", "tf", "envs", "vm", "nosuchcommand", "continue"])
    assert result.reason == "idle", text
    grade(text, required=[
        r"backtrace - .*",
        r"continue - .*",
        r"  00001000 parent 00000000 ENV_RUNNING .* breakpoint",
        r"  va        frame  pp_ref  perm   also mapped by",
        r"  00800000  [0-9a-f]{5}       1  P-U--  -",  # text: read-only, this env's alone
        r"  eebfd000  [0-9a-f]{5}       1  PWU--  -",  # the stack page
        r"Unknown command 'nosuchcommand'",
        FREE_ENV,
    ])
    assert text.count("  trap 0x00000003 Breakpoint") == 2  # banner frame + `tf`


def test_monitor_input_exhausted_stops(run_program):
    _text, _k, result = run_program("breakpoint", monitor_input=["help"])
    assert result.reason == "monitor"


def test_backtrace_names_the_assembly_entry(run_program, grade, in_order):
    """`_start` (a NOTYPE label of entry.S) is symbolized like the C functions."""
    text, _k, _result = run_program("breakpoint", monitor_input=["backtrace", "continue"])
    assert in_order(text, [r"Stack backtrace:", r"  eip [0-9a-f]{8}",
                           r"         user/breakpoint\.c:\d+: umain\+\d+",
                           r"  ebp [0-9a-f]{8}  eip [0-9a-f]{8}  args( [0-9a-f]{8}){5}",
                           r"         lib/entry\.S:\d+: _start\+\d+"]), text
