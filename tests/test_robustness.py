"""The kernel survives whatever user programs do.

Guest programs (tests/guest/) pass bad arguments to every system
call, exhaust memory and env slots, raise every kind of exception, and play
with segment registers and flags while other envs run.  Every bad argument
must come back as JOS's error code; every bad instruction ends only the env
that ran it; the run ends "idle" with no kernel panic and (conftest) no leak.
"""

from __future__ import annotations

import re

import pytest

from conftest import guest_source
from pyjos.abi import E_BAD_ENV, E_INVAL, E_IPC_NOT_RECV, E_NO_FREE_ENV, E_NO_MEM


EXPECTED = {
    "child_destroy_parent": -E_BAD_ENV,
    "child_status_parent": -E_BAD_ENV,
    "child_alloc_in_parent": -E_BAD_ENV,
    "child_map_from_parent": -E_BAD_ENV,
    "child_upcall_parent": -E_BAD_ENV,
    "child_value1": 42,
    "child_from_parent": 1,
    "child_perm1": 5,  # PTE_P | PTE_U
    "child_page_byte": ord("Z"),
    "child_page_ro": 1,
    "child_value2": 43,
    "child_perm2": 0,  # no page was mapped
    "destroy_other": -E_BAD_ENV,
    "destroy_bogus": -E_BAD_ENV,
    "destroy_minus1": -E_BAD_ENV,
    "destroy_free_slot": -E_BAD_ENV,
    "alloc_ok": 0,
    "alloc_utop": -E_INVAL,
    "alloc_kernel": -E_INVAL,
    "alloc_top": -E_INVAL,
    "alloc_unaligned": -E_INVAL,
    "alloc_no_p": -E_INVAL,
    "alloc_no_u": -E_INVAL,
    "alloc_perm_pwt": -E_INVAL,
    "alloc_perm_ps": -E_INVAL,
    "alloc_perm_high": -E_INVAL,
    "alloc_perm_g": -E_INVAL,
    "alloc_perm_avail": 0,  # PTE_AVAIL bits are within PTE_SYSCALL
    "alloc_other": -E_BAD_ENV,
    "alloc_bogus": -E_BAD_ENV,
    "unmap_d": 0,
    "c_unmapped": 0,  # none of the failed calls mapped anything
    "map_ro_ok": 0,
    "map_w_from_ro": -E_INVAL,
    "map_unmapped_src": -E_INVAL,
    "map_src_unaligned": -E_INVAL,
    "map_dst_unaligned": -E_INVAL,
    "map_src_utop": -E_INVAL,
    "map_src_uvpt": -E_INVAL,
    "map_dst_utop": -E_INVAL,
    "map_dst_kernel": -E_INVAL,
    "map_bad_perm": -E_INVAL,
    "map_no_u": -E_INVAL,
    "map_to_other": -E_BAD_ENV,
    "map_from_other": -E_BAD_ENV,
    "map_bogus": -E_BAD_ENV,
    "map_to_child_ok": 0,
    "b_readonly": 1,
    "b_same_frame": 1,
    "a_refs": 3,  # A, B, and C in the child
    "unmap_utop": -E_INVAL,
    "unmap_unaligned": -E_INVAL,
    "unmap_other": -E_BAD_ENV,
    "unmap_bogus": -E_BAD_ENV,
    "unmap_nothing": 0,
    "unmap_no_table": 0,
    "exofork_ok": 1,
    "status_99": -E_INVAL,
    "status_self_99": -E_INVAL,
    "status_free": -E_INVAL,
    "status_dying": -E_INVAL,
    "status_running": -E_INVAL,
    "status_negative": -E_INVAL,
    "status_other": -E_BAD_ENV,
    "status_bogus": -E_BAD_ENV,
    "upcall_other": -E_BAD_ENV,
    "upcall_bogus": -E_BAD_ENV,
    "upcall_child_ok": 0,
    "x_not_runnable": 1,
    "destroy_x": 0,
    "stale_destroy": -E_BAD_ENV,
    "stale_alloc": -E_BAD_ENV,
    "stale_status": -E_BAD_ENV,
    "stale_send": -E_BAD_ENV,
    "send_other_not_recv": -E_IPC_NOT_RECV,
    "send_self_not_recv": -E_IPC_NOT_RECV,
    "send_bogus": -E_BAD_ENV,
    "recv_unaligned": -E_INVAL,
    "recv_unaligned_low": -E_INVAL,
    "send_src_unaligned": -E_INVAL,
    "send_src_unmapped": -E_INVAL,
    "send_bad_perm": -E_INVAL,
    "send_no_p": -E_INVAL,
    "send_w_from_ro": -E_INVAL,
    "still_recving": 1,  # failed sends leave the receiver waiting
    "send_ok": 0,
    "send_page_unwanted": 0,
    "sys_13": -E_INVAL,
    "sys_999": -E_INVAL,
    "sys_minus1": -E_INVAL,
    "sys_0x80000000": -E_INVAL,
    "cputs_empty": 0,
    "getenvid": 1,
    "yield": 0,
    "a_still_z": ord("Z"),
}


def results(text: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^R (\S+) (-?\d+)$", text, re.M)}


@pytest.fixture(scope="module")
def badargs_run(run_programs):
    """badargs, with sleeper created second: an env alive but not its child."""
    return run_programs([guest_source("badargs"), guest_source("sleeper")])


def test_badargs_run_ends_cleanly(badargs_run, grade):
    text, _k, result = badargs_run
    assert result.reason == "idle", result
    grade(text, required=[
        r"badargs done",
        r"sleeper done",
        r"\[00001000\] destroying 0000100.",  # the exofork child
        r"\[00001000\] exiting gracefully",
        r"\[00001001\] exiting gracefully",
        r"\[00001002\] exiting gracefully",  # the forked child
    ], forbidden=[r".*panic.*", r"exofork child ran", r".*user fault.*", r"TRAP frame.*",
                  r".*user_mem_check.*"])


def test_badargs_every_result_reported(badargs_run):
    text, _k, _result = badargs_run
    missing = sorted(set(EXPECTED) - set(results(text)))
    assert not missing, f"no result for {missing}\n{text}"


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_badargs(badargs_run, name):
    text, _k, _result = badargs_run
    got = results(text).get(name)
    assert got == EXPECTED[name], f"{name}: got {got}, expected {EXPECTED[name]}"


def test_unknown_syscalls_counted(badargs_run):
    _text, k, _result = badargs_run
    assert k.stats.total.get("syscalls.unknown", 0) == 4


# --- exhaustion -------------------------------------------------------------------------
def test_out_of_memory(run_programs, grade):
    text, _k, result = run_programs([guest_source("nomem")], mem=4 << 20)
    assert result.reason == "idle", result
    got = results(text)
    assert got["nomem"] == -E_NO_MEM, text
    assert got["got_pages"] == 1
    assert got["exofork_nomem"] == -E_NO_MEM
    assert got["map_nomem_or_ok"] in (0, -E_NO_MEM)
    assert got["first_page"] == 0
    assert got["unmap"] == 0 and got["alloc_after_unmap"] == 0
    grade(text, required=[r"nomem done", r"\[00001000\] exiting gracefully"],
          forbidden=[r".*panic.*", r".*new env 00001001"])


def test_out_of_envs(run_programs):
    text, _k, result = run_programs([guest_source("noenv")])
    assert result.reason == "idle", result
    got = results(text)
    assert got["noenv"] == -E_NO_FREE_ENV, text[-2000:]
    assert got["children"] == 1023
    assert got["destroy_failures"] == 0
    assert got["exofork_again"] == 1 and got["destroy_again"] == 0
    assert "noenv done" in text and "panic" not in text


# --- exceptions -------------------------------------------------------------------------
# what -> lines its trap frame must show (the env dies: no "survived", no graceful exit)
EXCEPTION_CASES = {
    "ud2": [r"  trap 0x00000006 Invalid Opcode"],
    "lock_nop": [r"  trap 0x00000006 Invalid Opcode"],
    "hlt": [r"  trap 0x0000000d General Protection", r"  err  0x00000000"],
    "cli": [r"  trap 0x0000000d General Protection", r"  err  0x00000000"],
    "lgdt": [r"  trap 0x0000000d General Protection"],
    "mov_cr3": [r"  trap 0x0000000d General Protection"],
    "rdmsr": [r"  trap 0x0000000d General Protection"],
    "int80": [r"  trap 0x0000000d General Protection", r"  err  0x00000402"],
    "int14": [r"  trap 0x0000000d General Protection", r"  err  0x00000072"],
    "into": [r"  trap 0x0000000d General Protection", r"  err  0x00000022"],
    "ljmp_kernel": [r"  trap 0x0000000d General Protection", r"  err  0x00000008"],
    "mov_ss_kernel": [r"  trap 0x0000000d General Protection", r"  err  0x00000010"],
    "bound": [r"  trap 0x00000005 BOUND Range Exceeded"],
    "trapflag": [r"  trap 0x00000001 Debug"],
    "idiv_overflow": [r"  trap 0x00000000 Divide error"],
    "stack_overflow": [r"\[00001000\] user fault va eebfc... ip 008.....",
                       r"  err  0x00000006 \[user, write, not-present\]"],
    "jmp_kernel": [r"\[00001000\] user fault va f0100000 ip f0100000",
                   r"  err  0x00000005 \[user, read, protection\]"],
    "jmp_null": [r"\[00001000\] user fault va 00000000 ip 00000000",
                 r"  err  0x00000004 \[user, read, not-present\]"],
    "esp_kernel": [r"\[00001000\] user fault va f0000ffc ip 008.....",
                   r"  err  0x00000007 \[user, write, protection\]"],
    "write_text": [r"\[00001000\] user fault va 008..... ip 008.....",
                   r"  err  0x00000007 \[user, write, protection\]"],
    "write_envs": [r"\[00001000\] user fault va eec000.. ip 008.....",
                   r"  err  0x00000007 \[user, write, protection\]"],
    "write_uvpt": [r"\[00001000\] user fault va ef402000 ip 008.....",
                   r"  err  0x00000007 \[user, write, protection\]"],
    "uxstack_readonly": [r"\[00001000\] user_mem_check assertion failure for va eebff..."],
    "exception_stack_overflow": [
        r"\[00001000\] user_mem_check assertion failure for va eebfe...",
    ],
}


@pytest.fixture(scope="module")
def exceptions_program() -> str:
    return guest_source("exceptions")


@pytest.mark.parametrize("what", sorted(EXCEPTION_CASES))
def test_exception_kills_only_the_env(exceptions_program, run_programs, grade, what):
    text, _k, result = run_programs([exceptions_program], [what])
    assert result.reason == "idle", result
    grade(text, required=[rf"doing {what}", *EXCEPTION_CASES[what],
                          r"\[00001000\] free env 00001000",
                          r"No runnable environments in the system!"],
          forbidden=[rf"survived {what}", r".*exiting gracefully.*", r".*panic.*"])


def test_syscall_with_kernel_esp(exceptions_program, run_programs, grade):
    """int $0x30 does not touch the user stack, so a wild esp is fine."""
    text, _k, result = run_programs([exceptions_program], ["syscall_esp_kernel"])
    assert result.reason == "idle"
    grade(text, required=[r"survived syscall_esp_kernel", r"\[00001000\] exiting gracefully"],
          forbidden=[r".*panic.*", r"TRAP frame.*"])


def test_trampoline_page_is_harmless(exceptions_program, run_programs, grade):
    """The kernel's read-only resume page above envs[]: readable, and jumping to it
    is just a system call (eax=2: getenvid) whose return lands on an unmapped page."""
    text, _k, result = run_programs([exceptions_program], ["read_trampoline_page"])
    assert result.reason == "idle"
    grade(text, required=[r"read cd", r"survived read_trampoline_page"], forbidden=[r".*panic.*"])
    text, _k, result = run_programs([exceptions_program], ["jump_trampoline"])
    assert result.reason == "idle", text
    # After the int $0x30, the zero bytes of the page decode as add %al,(%eax),
    # with eax = the env id: a fault at that address, from the trampoline page.
    grade(text, required=[r"\[00001000\] user fault va 00001000 ip eec20002",
                          r"\[00001000\] free env 00001000"],
          forbidden=[r".*panic.*", r"survived jump_trampoline"])


def test_upcall_that_never_returns(exceptions_program, run_programs, grade):
    """An upcall at _start re-runs the program on the exception stack; it then
    faults again with esp on the exception stack, and so on, until it overflows."""
    text, _k, result = run_programs([exceptions_program], ["upcall_no_return"])
    assert result.reason == "idle", text
    grade(text, required=[r"\[00001000\] free env 00001000"],
          forbidden=[r".*panic.*", r"survived upcall_no_return"])


@pytest.mark.parametrize("insn", ["inb", "outb"])
def test_port_io_is_a_general_protection_fault(run_programs, grade, insn):
    """in/out at CPL 3 with IOPL 0: #GP at the instruction (machine insn hooks)."""
    text, _k, result = run_programs([guest_source("portio")], [insn])
    grade(text, required=[r"  trap 0x0000000d General Protection"],
          forbidden=[r"port io worked"])


@pytest.mark.parametrize("insn", ["sysenter", "syscall"])
def test_fast_syscall_instructions_fault(run_programs, grade, insn):
    text, _k, result = run_programs([guest_source("fastsys")], [insn])
    trap = {"sysenter": "d General Protection", "syscall": "6 Invalid Opcode"}[insn]
    grade(text, required=[rf"  trap 0x0000000{trap}"], forbidden=[rf"{insn} returned"])


# --- segment registers and flags across context switches --------------------------------
@pytest.fixture(scope="module")
def segment_programs() -> list[str]:
    return [guest_source("eszero"), guest_source("stringops"),
            guest_source("dszero")]


@pytest.mark.parametrize("quantum", [50_000, 1000, 3333])
def test_segments_and_flags_stay_private(segment_programs, run_programs, grade, quantum):
    text, _k, result = run_programs(segment_programs, quantum=quantum)
    assert result.reason == "idle", result
    grade(text, required=[
        r"A start",
        r"A es 0 df 1",  # A's own state survived every switch
        r"B es 23 bad 0",
        r"B OK",
        r"C start",
        r"C ds 0",
        r"\[00001000\] exiting gracefully",
        r"\[00001001\] exiting gracefully",
        r"\[00001002\] exiting gracefully",
    ], forbidden=[r"B FAILED", r".*panic.*", r"TRAP frame.*"])
    assert result.slices > 3  # A and B were preempted, not only yielding


def test_exit_does_not_leak_es(run_programs, grade):
    """An env that loads a null %es and exits at once must not hand it on."""
    text, _k, result = run_programs([guest_source("esexit"),
                                     guest_source("esreport")])
    assert result.reason == "idle"
    grade(text, required=[r"\[00001000\] exiting gracefully", r"B es 23 ds 23"])


def test_segments_survive_fork(run_programs, grade):
    """A forked child inherits the parent's %es (exofork copies the whole frame)."""
    text, _k, result = run_programs([guest_source("forkes")])
    assert result.reason == "idle"
    grade(text, required=[r"parent es 0", r"child es 0", r"\[00001001\] exiting gracefully"],
          forbidden=[r".*panic.*", r"TRAP frame.*"])


def test_segments_survive_fork_with_a_yield(run_programs, grade):
    """The same, but the parent yields (a frame save) before exiting: no stale cache."""
    text, _k, result = run_programs([guest_source("forkes")], ["yield"])
    assert result.reason == "idle"
    grade(text, required=[r"parent es 0", r"child es 0"],
          forbidden=[r".*panic.*", r"TRAP frame.*"])


# --- the TLB follows every page-table change ---------------------------------------------
TLB_EXPECTED = {
    "p_before": 1, "p_remapped": 2, "q_shared": 5, "p_readonly_read": 5,
    "faults_before_write": 0, "faults_after_write": 1, "err_after_write": 7, "p_written": 3,
    "p_unmapped_read": 0, "faults_after_unmap": 2, "err_after_unmap": 4, "q_kept": 5,
}


@pytest.mark.parametrize("quantum", [50_000, 300])
def test_tlb_follows_page_table_changes(run_programs, quantum):
    text, _k, result = run_programs([guest_source("tlb")], quantum=quantum)
    assert result.reason == "idle", text
    assert "tlb done" in text and "panic" not in text, text
    assert results(text) == TLB_EXPECTED, text


# --- the monitor reads user memory carefully ------------------------------------------------
@pytest.mark.parametrize("what, frames", [("kernel", 0), ("unmapped", 0), ("edge", 0),
                                          ("loop", 64)])
def test_backtrace_with_a_wild_ebp(run_programs, grade, what, frames):
    text, _k, result = run_programs([guest_source("bt")], [what],
                                    monitor_input=["backtrace", "continue"])
    assert result.reason == "idle", text
    grade(text, required=[r"Stack backtrace:", r"back from the monitor",
                          r"\[00001000\] exiting gracefully"],
          forbidden=[r".*panic.*"])
    assert len(re.findall(r"^  ebp [0-9a-f]{8}  eip ", text, re.M)) == frames, text
