"""Reproducers of issue 11: no user program can break the kernel or another env.

One test per item of the issue, each a guest program in tests/guest/iso_*.c.
Every run is audited (kernel/audit.py) on top of conftest's leak check.  The
items whose fix belongs in kernel.py/trap.py are strict xfails naming the
change; item 7's in/out and sysenter/syscall cases are the strict xfails of
test_robustness.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conftest import check_no_leaks, grade_text
from pyjos.abi import E_FAULT, E_INVAL, E_NO_MEM, PGSIZE
from pyjos.kernel import Kernel, KernelConfig, LoadError, audit

GUEST = Path(__file__).parent / "guest"


def iso(name: str) -> str:
    return str(GUEST / f"iso_{name}.c")


def run_audited(envs: list[tuple[str, list[str]]], **config) -> tuple[str, Kernel, object]:
    """Boot, create the envs (program path, args), run, and assert the audit is clean."""
    out: list[str] = []
    kernel = Kernel(KernelConfig(**config), out=out.append)
    audit.attach(kernel)
    for program, args in envs:
        kernel.create_env(program, args)
    result = kernel.run()
    text = "".join(out)
    check_no_leaks(kernel, result, text)
    problems = audit.audit(kernel)
    assert not problems, "audit: " + "\n".join(problems) + f"\n--- output ---\n{text}"
    return text, kernel, result


def results(text: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^R (\S+) (-?\d+)$", text, re.M)}


NO_PANIC = [r".*kernel panic.*"]


def test_audit_finds_a_wrong_pp_ref_and_a_leaked_page():
    """The audit is not blind: it reports a miscounted page and a lost page."""
    kernel = Kernel(KernelConfig(mem=8 << 20), out=lambda _s: None)
    audit.attach(kernel)
    assert audit.audit(kernel) == []
    kernel.pmap.pages[kernel.pmap.boot_pages - 1].pp_ref += 1
    lost = kernel.pmap.page_alloc()
    problems = audit.audit(kernel)
    assert any("pp_ref 2, 1 references" in p for p in problems), problems
    assert any(f"page {lost:#x} is leaked" in p for p in problems), problems
    kernel.pmap.mem.write32(kernel.pmap.kern_pgdir, 0x1007)
    assert any("boot page" in p and "changed at offset 0x0" in p for p in audit.audit(kernel))


def test_item1_pp_ref_cannot_wrap():
    """65,537 aliases of one page: each mapping past 65,535 references fails
    with -E_NO_MEM (page_map in a batch, sys_fork, IPC page passing)."""
    text, _k, result = run_audited([(iso("ppref"), [])])
    assert result.reason == "idle", text
    r = results(text)
    assert r["aliases"] == 0xFFFF - 1, text  # the page's own mapping is the first reference
    assert r["first_error"] == -E_NO_MEM
    assert r["sys_fork"] == -E_NO_MEM
    assert r["ipc_page"] == -E_NO_MEM
    assert r["ipc_no_page"] == 0 and r["child_got_perm"] == 0
    assert r["still_mine"] == 1
    grade_text(text, forbidden=NO_PANIC)


def test_item2_uvpt_is_never_written_by_a_system_call():
    """Batch descriptors or result slots in UVPT or across UTOP: -E_FAULT."""
    text, _k, result = run_audited([(iso("uvpt"), [])])
    assert result.reason == "idle", text
    r = results(text)
    for name in ("batch_text_pt", "batch_text_pt_many", "batch_self_pd", "batch_uvpt_last",
                 "batch_upages", "batch_below_utop"):
        assert r[name] == -E_FAULT, (name, text)
    assert r["page_map_from_uvpt"] == -E_INVAL
    assert r["batch_still_works"] == 1 and r["text_pte"] == 1
    grade_text(text, forbidden=NO_PANIC)


def test_effective_permission_is_directory_and_table():
    """Pmap.pte reports what the CPU enforces: the UVPT self-map is read-only."""
    from pyjos.abi import PDX, PTE_U, PTE_W, UTEXT, UVPT

    kernel = Kernel(KernelConfig(mem=8 << 20), out=lambda _s: None)
    kernel.create_env("hello")
    pgdir = kernel.envtab.pgdir(0)
    raw_pde = kernel.pmap.mem.read32(pgdir + PDX(UTEXT) * 4)
    assert raw_pde & PTE_W  # the PDE seen as a PTE through UVPT is P|W|U ...
    seen = kernel.pmap.pte(pgdir, UVPT + PDX(UTEXT) * PGSIZE)
    assert seen & PTE_U and not seen & PTE_W  # ... but the CPU's view is read-only


@pytest.mark.parametrize("how", ["fault", "spin", "syscall"])
def test_item3_vm86_from_ring3_hurts_only_its_env(how):
    """An env that enters virtual-8086 mode is destroyed with a trap printout
    whether it then faults (trap), runs until the timer (a slice), or makes a
    system call there (IOPL 3) that switches away; the bystander runs on
    with its own selectors."""
    text, _k, result = run_audited([(iso("vm86"), [how]), (iso("bystander"), ["20"])])
    assert result.reason == "idle", text
    grade_text(text, required=[r"\[00001000\] user mode left: eflags 0002.202 cs 0000 ss 0000",
                               r"TRAP frame at 0xf0042000 from CPU 0", r"  flag 0x0002.202",
                               r"bystander ok", r"\[00001000\] free env 00001000"],
               forbidden=NO_PANIC + [r"vm86 iret returned", r"bystander saw changes",
                                     r"\[00001001\] user fault.*"])


def test_vm86_env_parked_by_max_insns_is_destroyed_before_the_next_run():
    """A run stopped by --max-insns while an env spins in VM86: the next run()
    destroys it (with the printout) and the bystander runs with its selectors."""
    out: list[str] = []
    kernel = Kernel(KernelConfig(quantum=2000, max_insns=40_000), out=out.append)
    kernel.create_env(iso("vm86"), ["spin"])
    kernel.create_env(iso("bystander"), ["20"])
    kernel.config.quantum = 10**6  # the spin holds the CPU until max-insns stops it
    first = kernel.run()
    kernel.config.max_insns = 0
    second = kernel.run()
    text = "".join(out)
    assert first.reason == "max-insns" and second.reason == "idle", text
    grade_text(text, required=[r"\[00001000\] user mode left: eflags 0002.202 cs 0000 ss 0000",
                               r"bystander ok"], forbidden=NO_PANIC + [r".*user fault.*"])
    check_no_leaks(kernel, second, text)


def test_user_flags_are_enforced_on_every_load():
    """A frame holding VM, IOPL, NT, RF and no IF is loaded as ring 3 may run:
    those bits cleared and IF set (in the frame too)."""
    kernel = Kernel(KernelConfig(mem=8 << 20), out=lambda _s: None)
    kernel.create_env("hello")
    tf = kernel.envs[0].env_tf
    tf.tf_eflags = 0x37000 | 0x4000 | 0x3000 | 0x1  # RF VM NT IOPL=3 CF, IF clear
    kernel.cpu.load_frame(0, in_hook=False)
    from unicorn import x86_const
    assert kernel.machine.reg_read(x86_const.UC_X86_REG_EFLAGS) & 0x37200 == 0x200
    assert tf.tf_eflags == 0x201


@pytest.mark.parametrize("case", ["kern", "unmapped", "ro"])
def test_item4_loader_refuses_a_bad_fork_symbol(case):
    """pyjos_fork_strategy at a kernel address, unmapped, or read-only: a
    one-line LoadError, and no byte of memory written."""
    kernel = Kernel(KernelConfig(fork="dumb", mem=8 << 20), out=lambda _s: None)
    audit.attach(kernel)
    with pytest.raises(LoadError, match=r"^address 0x[0-9a-f]+ is not in a writable "
                                        r"segment of the program$"):
        kernel.create_env(iso(f"forksym_{case}"))
    assert not [p for p in audit.audit(kernel) if "boot page" in p]


@pytest.mark.parametrize("case", ["kern", "unaligned"])
def test_item4_refused_program_leaves_no_env(case):
    kernel = Kernel(KernelConfig(fork="dumb", mem=8 << 20), out=lambda _s: None)
    audit.attach(kernel)
    with pytest.raises(LoadError):
        kernel.create_env(iso(f"forksym_{case}"))
    assert kernel.envtab.live() == []
    assert audit.audit(kernel) == []


@pytest.mark.parametrize("quantum", [3, 10_000])
def test_item5_fpu_sse_and_fs_gs_are_private(quantum):
    """Each env sees only its own x87 stack, XMM registers and fs/gs, across
    yields and time slices (the FPU switched lazily, fs/gs with the frame)."""
    text, kernel, _result = run_audited([(iso("regs"), ["set"]), (iso("regs"), ["look"])],
                                        quantum=quantum)
    grade_text(text, required=[r"look fs 23 gs 23 fpu_top 0 xmm0 0",
                               r"look again fs 23 gs 23 fpu_top 7 xmm0 10c",
                               r"set fs 0 gs 0 fpu_top 6 xmm0 5eedf00d"], forbidden=NO_PANIC)
    assert kernel.stats.total.get("traps.fpu", 0) >= 3


def test_item5_fork_child_inherits_the_fpu_and_an_idle_switch_costs_no_trap():
    """A forked child starts with its parent's FPU state; envs that never
    use the FPU never trap for it."""
    text, kernel, _result = run_audited([(iso("fpufork"), [])])
    grade_text(text, required=[r"child fpu_top 6 xmm0 5eedf00d", r"parent fpu_top 6 xmm0 5eedf00d"],
               forbidden=NO_PANIC)
    _text, kernel, _result = run_audited([("yieldloop", ["50"]), ("yieldloop", ["50"])])
    assert kernel.stats.total.get("traps.fpu", 0) == 0


@pytest.mark.parametrize("quantum", [500, 2000])
def test_item6_self_send_after_an_early_wake_keeps_registers(quantum):
    """The running env sends to itself: it stays RUNNING, so the timer saves it."""
    text, _k, result = run_audited([(iso("selfsend"), [])], quantum=quantum)
    assert result.reason == "idle" and result.slices > 2, text
    r = results(text)
    assert r["wake"] == 0 and r["self_send"] == 0 and r["child_work_ok"] == 1, text


def test_item7_lock_on_a_register_instruction_is_invalid():
    text, _k, _result = run_audited([(iso("insn"), ["lock_nop"])])
    grade_text(text, required=[r"  trap 0x00000006 Invalid Opcode"], forbidden=[r".*returned"])


@pytest.mark.parametrize("what,trap", [
    ("insb", "0d"), ("outsb", "0d"), ("rdpmc", "0d"), ("lock_mov", "06")])
def test_item7_instructions_fault_as_on_the_cpu(what, trap):
    """Each faults at its own eip with JOS's printout; the env is destroyed and
    a bystander (which runs right after, on the same CPU) is unharmed."""
    text, _k, _result = run_audited([(iso("insn"), [what]), (iso("bystander"), ["5"])])
    grade_text(text, required=[rf"  trap 0x000000{trap} .*", r"\[00001000\] free env 00001000",
                               r"bystander ok"], forbidden=[r".*returned", r".*user fault.*"])


def test_item8_breakpoint_without_terminal_stops_the_machine():
    """The documented behaviour stays the default."""
    out: list[str] = []
    kernel = Kernel(KernelConfig(), out=out.append)
    kernel.create_env(iso("int3"))
    kernel.create_env(iso("bystander"), ["5"])
    result = kernel.run()
    assert result.reason == "monitor", "".join(out)


@pytest.mark.parametrize("policy,after", [("destroy", False), ("continue", True)])
def test_item8_on_breakpoint_lets_other_envs_run(policy, after):
    text, _k, result = run_audited([(iso("int3"), []), (iso("bystander"), ["5"])],
                                   on_breakpoint=policy)
    assert result.reason == "idle", text
    assert ("after int3" in text) == after
    assert ("[00001000] free env 00001000" in text)
    grade_text(text, required=[r"bystander ok", r"  trap 0x00000003 Breakpoint"],
               forbidden=NO_PANIC)


def test_item8_cli_on_breakpoint(tmp_path):
    """`pyjos run --on-breakpoint destroy` runs the other envs to the end; a bad
    value is refused by the option parser."""
    import subprocess
    import sys
    run = [sys.executable, "-m", "pyjos", "run", "-q"]
    done = subprocess.run(run + ["--on-breakpoint", "destroy", iso("int3"), iso("bystander")],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0 and "bystander ok" in done.stdout, done.stdout + done.stderr
    bad = subprocess.run(run + ["--on-breakpoint", "maybe", "hello"], capture_output=True,
                         text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice: 'maybe'" in bad.stderr, bad.stderr


def test_machine_saves_and_restores_fpu_and_sse_state():
    """The machine half of item 5: save_extended/load_extended round-trip the
    x87 stack and the XMM registers (the kernel must call them on a switch)."""
    from pyjos.machine.machine import EXTENDED_REGS, INITIAL_EXTENDED, Machine, PhysMem

    machine = Machine(PhysMem(8 << 20))
    state = tuple(0x3FFF8000000000000000 + i if 3 <= i < 11 else
                  (0x5EEDF00D << 96) | i if 11 <= i < 19 else v
                  for i, v in enumerate(INITIAL_EXTENDED))
    assert len(state) == len(EXTENDED_REGS)
    machine.load_extended(state)
    saved = machine.save_extended()
    machine.load_extended(INITIAL_EXTENDED)
    assert machine.save_extended() == INITIAL_EXTENDED
    machine.load_extended(saved)
    assert machine.save_extended() == state
