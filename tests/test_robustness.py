"""The kernel survives whatever user programs do.

Guest programs written into tmp_path pass bad arguments to every system
call, exhaust memory and env slots, raise every kind of exception, and play
with segment registers and flags while other envs run.  Every bad argument
must come back as JOS's error code; every bad instruction ends only the env
that ran it; the run ends "idle" with no kernel panic and (conftest) no leak.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyjos.abi import E_BAD_ENV, E_INVAL, E_IPC_NOT_RECV, E_NO_FREE_ENV, E_NO_MEM

PRELUDE = """\
#include <inc/lib.h>

/* A raw system call: no library checks between us and the kernel. */
static int32_t
sc(uint32_t num, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5)
{
	int32_t ret;

	asm volatile("int $0x30"
		     : "=a" (ret)
		     : "a" (num), "d" (a1), "c" (a2), "b" (a3), "D" (a4), "S" (a5)
		     : "cc", "memory");
	return ret;
}

#define R(name, expr)	cprintf("R %s %d\\n", name, (int) (expr))
#define PUW		(PTE_P | PTE_U | PTE_W)
#define PU		(PTE_P | PTE_U)

/* Yield until env who has exited. */
static void
wait_for(envid_t who)
{
	while (envs[ENVX(who)].env_id == who && envs[ENVX(who)].env_status != ENV_FREE)
		sys_yield();
}
"""

# The env created second in the same kernel: alive, but not our child.
SLEEPER = PRELUDE + """
void
umain(int argc, char **argv)
{
	/* Stay alive (not receiving) until the tester in slot 0 is gone. */
	while (envs[0].env_status != ENV_FREE)
		sys_yield();
	cprintf("sleeper done\\n");
}
"""

BADARGS = PRELUDE + """
#define A	0x10000000	/* mapped read-write */
#define B	0x10001000	/* read-only alias of A */
#define C	0x10002000	/* target, unmapped */
#define D	0x10003000	/* never mapped */
#define RECV	0x30000000	/* where the forked child receives pages */
#define OTHER	0x1001		/* the sleeper: alive, not our child */
#define BOGUS	0x7eadb000	/* no such env */

static void
child(void)
{
	envid_t parent = thisenv->env_parent_id, from;
	int perm, v;

	R("child_destroy_parent", sc(SYS_env_destroy, parent, 0, 0, 0, 0));
	R("child_status_parent", sc(SYS_env_set_status, parent, ENV_NOT_RUNNABLE, 0, 0, 0));
	R("child_alloc_in_parent", sc(SYS_page_alloc, parent, C, PUW, 0, 0));
	R("child_map_from_parent", sc(SYS_page_map, parent, A, 0, C, PU));
	R("child_upcall_parent", sc(SYS_env_set_pgfault_upcall, parent, 0, 0, 0, 0));

	v = ipc_recv(&from, (void *) RECV, &perm);
	R("child_value1", v);
	R("child_from_parent", from == parent);
	R("child_perm1", perm);
	R("child_page_byte", *(volatile char *) RECV);
	R("child_page_ro", (uvpt[PGNUM(RECV)] & PTE_W) == 0);

	v = ipc_recv(&from, 0, &perm);	/* no page wanted; one is offered */
	R("child_value2", v);
	R("child_perm2", perm);
}

void
umain(int argc, char **argv)
{
	envid_t kid, x;

	/* A forked child first (it blocks in ipc_recv), then the pages. */
	if ((kid = fork()) < 0)
		panic("fork: %e", kid);
	if (kid == 0) {
		child();
		return;
	}

	/* --- env_destroy --- */
	R("destroy_other", sc(SYS_env_destroy, OTHER, 0, 0, 0, 0));
	R("destroy_bogus", sc(SYS_env_destroy, BOGUS, 0, 0, 0, 0));
	R("destroy_minus1", sc(SYS_env_destroy, -1, 0, 0, 0, 0));
	R("destroy_free_slot", sc(SYS_env_destroy, 0x1000 | 0x3ff, 0, 0, 0, 0));

	/* --- page_alloc --- */
	R("alloc_ok", sc(SYS_page_alloc, 0, A, PUW, 0, 0));
	R("alloc_utop", sc(SYS_page_alloc, 0, UTOP, PUW, 0, 0));
	R("alloc_kernel", sc(SYS_page_alloc, 0, KERNBASE, PUW, 0, 0));
	R("alloc_top", sc(SYS_page_alloc, 0, 0xfffff000, PUW, 0, 0));
	R("alloc_unaligned", sc(SYS_page_alloc, 0, C + 1, PUW, 0, 0));
	R("alloc_no_p", sc(SYS_page_alloc, 0, C, PTE_U | PTE_W, 0, 0));
	R("alloc_no_u", sc(SYS_page_alloc, 0, C, PTE_P | PTE_W, 0, 0));
	R("alloc_perm_pwt", sc(SYS_page_alloc, 0, C, PUW | PTE_PWT, 0, 0));
	R("alloc_perm_ps", sc(SYS_page_alloc, 0, C, PUW | PTE_PS, 0, 0));
	R("alloc_perm_high", sc(SYS_page_alloc, 0, C, PUW | 0x1000, 0, 0));
	R("alloc_perm_g", sc(SYS_page_alloc, 0, C, PUW | PTE_G, 0, 0));
	R("alloc_perm_avail", sc(SYS_page_alloc, 0, D, PUW | PTE_AVAIL, 0, 0));
	R("alloc_other", sc(SYS_page_alloc, OTHER, C, PUW, 0, 0));
	R("alloc_bogus", sc(SYS_page_alloc, BOGUS, C, PUW, 0, 0));
	R("unmap_d", sc(SYS_page_unmap, 0, D, 0, 0, 0));
	R("c_unmapped", (uvpd[PDX(C)] & PTE_P) && (uvpt[PGNUM(C)] & PTE_P));
	*(volatile char *) A = 'Z';

	/* --- page_map --- */
	R("map_ro_ok", sc(SYS_page_map, 0, A, 0, B, PU));
	R("map_w_from_ro", sc(SYS_page_map, 0, B, 0, C, PUW));
	R("map_unmapped_src", sc(SYS_page_map, 0, D, 0, C, PU));
	R("map_src_unaligned", sc(SYS_page_map, 0, A + 1, 0, C, PU));
	R("map_dst_unaligned", sc(SYS_page_map, 0, A, 0, C + 8, PU));
	R("map_src_utop", sc(SYS_page_map, 0, UTOP, 0, C, PU));
	R("map_src_uvpt", sc(SYS_page_map, 0, UVPT, 0, C, PU));
	R("map_dst_utop", sc(SYS_page_map, 0, A, 0, UTOP, PU));
	R("map_dst_kernel", sc(SYS_page_map, 0, A, 0, KERNBASE, PU));
	R("map_bad_perm", sc(SYS_page_map, 0, A, 0, C, PUW | 0x1000));
	R("map_no_u", sc(SYS_page_map, 0, A, 0, C, PTE_P));
	R("map_to_other", sc(SYS_page_map, 0, A, OTHER, C, PU));
	R("map_from_other", sc(SYS_page_map, OTHER, UTEXT, 0, C, PU));
	R("map_bogus", sc(SYS_page_map, 0, A, BOGUS, C, PU));
	R("map_to_child_ok", sc(SYS_page_map, 0, A, kid, C, PU));
	R("b_readonly", (uvpt[PGNUM(B)] & (PTE_P | PTE_W)) == PTE_P);
	R("b_same_frame", PTE_ADDR(uvpt[PGNUM(B)]) == PTE_ADDR(uvpt[PGNUM(A)]));
	R("a_refs", pages[PGNUM(PTE_ADDR(uvpt[PGNUM(A)]))].pp_ref);

	/* --- page_unmap --- */
	R("unmap_utop", sc(SYS_page_unmap, 0, UTOP, 0, 0, 0));
	R("unmap_unaligned", sc(SYS_page_unmap, 0, B + 4, 0, 0, 0));
	R("unmap_other", sc(SYS_page_unmap, OTHER, UTEXT, 0, 0, 0));
	R("unmap_bogus", sc(SYS_page_unmap, BOGUS, B, 0, 0, 0));
	R("unmap_nothing", sc(SYS_page_unmap, 0, D, 0, 0, 0));
	R("unmap_no_table", sc(SYS_page_unmap, 0, 0x40000000, 0, 0, 0));

	/* --- exofork, env_set_status, env_set_pgfault_upcall --- */
	x = sys_exofork();
	if (x == 0) {
		cprintf("exofork child ran\\n");	/* it never should: no memory */
		exit();
	}
	R("exofork_ok", x > 0);
	R("status_99", sc(SYS_env_set_status, x, 99, 0, 0, 0));
	R("status_self_99", sc(SYS_env_set_status, 0, 99, 0, 0, 0));
	R("status_free", sc(SYS_env_set_status, x, ENV_FREE, 0, 0, 0));
	R("status_dying", sc(SYS_env_set_status, x, ENV_DYING, 0, 0, 0));
	R("status_running", sc(SYS_env_set_status, x, ENV_RUNNING, 0, 0, 0));
	R("status_negative", sc(SYS_env_set_status, x, -2, 0, 0, 0));
	R("status_other", sc(SYS_env_set_status, OTHER, ENV_RUNNABLE, 0, 0, 0));
	R("status_bogus", sc(SYS_env_set_status, BOGUS, ENV_RUNNABLE, 0, 0, 0));
	R("upcall_other", sc(SYS_env_set_pgfault_upcall, OTHER, 0x800020, 0, 0, 0));
	R("upcall_bogus", sc(SYS_env_set_pgfault_upcall, BOGUS, 0x800020, 0, 0, 0));
	R("upcall_child_ok", sc(SYS_env_set_pgfault_upcall, x, 0x800020, 0, 0, 0));
	R("x_not_runnable", envs[ENVX(x)].env_status == ENV_NOT_RUNNABLE);
	R("destroy_x", sc(SYS_env_destroy, x, 0, 0, 0, 0));
	R("stale_destroy", sc(SYS_env_destroy, x, 0, 0, 0, 0));
	R("stale_alloc", sc(SYS_page_alloc, x, C, PUW, 0, 0));
	R("stale_status", sc(SYS_env_set_status, x, ENV_RUNNABLE, 0, 0, 0));
	R("stale_send", sc(SYS_ipc_try_send, x, 1, UTOP, 0, 0));

	/* --- ipc --- */
	R("send_other_not_recv", sc(SYS_ipc_try_send, OTHER, 1, UTOP, 0, 0));
	R("send_self_not_recv", sc(SYS_ipc_try_send, 0, 1, UTOP, 0, 0));
	R("send_bogus", sc(SYS_ipc_try_send, BOGUS, 1, UTOP, 0, 0));
	R("recv_unaligned", sc(SYS_ipc_recv, RECV + 1, 0, 0, 0, 0));
	R("recv_unaligned_low", sc(SYS_ipc_recv, 0x123, 0, 0, 0, 0));
	while (!envs[ENVX(kid)].env_ipc_recving)
		sys_yield();
	R("send_src_unaligned", sc(SYS_ipc_try_send, kid, 1, A + 1, PU, 0));
	R("send_src_unmapped", sc(SYS_ipc_try_send, kid, 1, D, PU, 0));
	R("send_bad_perm", sc(SYS_ipc_try_send, kid, 1, A, PU | 0x1000, 0));
	R("send_no_p", sc(SYS_ipc_try_send, kid, 1, A, PTE_U, 0));
	R("send_w_from_ro", sc(SYS_ipc_try_send, kid, 1, B, PUW, 0));
	R("still_recving", envs[ENVX(kid)].env_ipc_recving);
	R("send_ok", sc(SYS_ipc_try_send, kid, 42, B, PU, 0));
	while (!envs[ENVX(kid)].env_ipc_recving)
		sys_yield();
	R("send_page_unwanted", sc(SYS_ipc_try_send, kid, 43, A, PU, 0));
	wait_for(kid);

	/* --- unknown system calls --- */
	R("sys_13", sc(NSYSCALLS, 0, 0, 0, 0, 0));
	R("sys_999", sc(999, 0, 0, 0, 0, 0));
	R("sys_minus1", sc(0xffffffff, 0, 0, 0, 0, 0));
	R("sys_0x80000000", sc(0x80000000, 0, 0, 0, 0, 0));

	/* --- harmless edge cases --- */
	R("cputs_empty", sc(SYS_cputs, 0, 0, 0, 0, 0));
	R("getenvid", sc(SYS_getenvid, 0, 0, 0, 0, 0) == thisenv->env_id);
	R("yield", sc(SYS_yield, 0, 0, 0, 0, 0));
	R("a_still_z", *(volatile char *) A);
	cprintf("badargs done\\n");
}
"""

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


def write(tmp_path: Path, name: str, source: str) -> str:
    path = tmp_path / f"{name}.c"
    path.write_text(source)
    return str(path)


def results(text: str) -> dict[str, int]:
    return {m[1]: int(m[2]) for m in re.finditer(r"^R (\S+) (-?\d+)$", text, re.M)}


@pytest.fixture(scope="module")
def badargs_run(tmp_path_factory, run_programs):
    tmp = tmp_path_factory.mktemp("badargs")
    return run_programs([write(tmp, "badargs", BADARGS), write(tmp, "sleeper", SLEEPER)])


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
NOMEM = PRELUDE + """
void
umain(int argc, char **argv)
{
	uint32_t va = 0x10000000;
	int r, n = 0;

	while ((r = sys_page_alloc(0, (void *) va, PUW)) == 0) {
		*(volatile int *) va = n;	/* the page is really there */
		va += PGSIZE;
		n++;
	}
	R("nomem", r);
	R("got_pages", n > 100);
	R("exofork_nomem", sys_exofork());
	R("map_nomem_or_ok", sc(SYS_page_map, 0, 0x10000000, 0, 0x80000000, PU));
	R("first_page", *(volatile int *) 0x10000000);
	R("unmap", sys_page_unmap(0, (void *) 0x10000000));
	R("alloc_after_unmap", sys_page_alloc(0, (void *) 0x10000000, PUW));
	cprintf("nomem done\\n");
}
"""

NOENV = PRELUDE + """
void
umain(int argc, char **argv)
{
	static envid_t ids[NENV];
	int n = 0, r, i, bad = 0;

	while ((r = sys_exofork()) > 0)
		ids[n++] = r;
	if (r == 0)
		exit();	/* a child: never made runnable */
	R("noenv", r);
	R("children", n);
	for (i = 0; i < n; i++)
		if (sys_env_destroy(ids[i]) != 0)
			bad++;
	R("destroy_failures", bad);
	r = sys_exofork();	/* a freed slot is usable again */
	R("exofork_again", r > 0);
	R("destroy_again", sys_env_destroy(r));
	cprintf("noenv done\\n");
}
"""


def test_out_of_memory(tmp_path, run_programs, grade):
    text, _k, result = run_programs([write(tmp_path, "nomem", NOMEM)], mem=4 << 20)
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


def test_out_of_envs(tmp_path, run_programs):
    text, _k, result = run_programs([write(tmp_path, "noenv", NOENV)])
    assert result.reason == "idle", result
    got = results(text)
    assert got["noenv"] == -E_NO_FREE_ENV, text[-2000:]
    assert got["children"] == 1023
    assert got["destroy_failures"] == 0
    assert got["exofork_again"] == 1 and got["destroy_again"] == 0
    assert "noenv done" in text and "panic" not in text


# --- exceptions -------------------------------------------------------------------------
EXCEPTIONS = r"""
#include <inc/lib.h>

static int
recurse(int n)
{
	volatile char buf[512];

	buf[0] = n;
	return n ? recurse(n - 1) + buf[0] : 0;
}

static void
refault(struct UTrapframe *utf)
{
	/* Fault again inside the handler, for ever: the exception stack overflows. */
	*(volatile int *) (0x50000000 + (utf->utf_esp & 0xfff)) = 1;
}

void
umain(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	static int bounds[2] = {0, 1};
	int id;

	cprintf("doing %s\n", what);
	if (!strcmp(what, "ud2"))
		asm volatile("ud2");
	else if (!strcmp(what, "hlt"))
		asm volatile("hlt");
	else if (!strcmp(what, "cli"))
		asm volatile("cli");
	else if (!strcmp(what, "int80"))
		asm volatile("int $0x80");
	else if (!strcmp(what, "int14"))
		asm volatile("int $14");
	else if (!strcmp(what, "into"))
		asm volatile("movl $0x7fffffff, %%eax; addl $1, %%eax; into" ::: "eax", "cc");
	else if (!strcmp(what, "bound"))
		asm volatile("movl $5, %%eax; bound %%eax, %0" :: "m" (bounds) : "eax");
	else if (!strcmp(what, "trapflag"))
		asm volatile("pushfl; orl $0x100, (%%esp); popfl; nop; nop" ::: "cc");
	else if (!strcmp(what, "lgdt"))
		asm volatile("lgdt %0" :: "m" (bounds));
	else if (!strcmp(what, "ljmp_kernel"))
		asm volatile("ljmp $0x08, $1f; 1:");
	else if (!strcmp(what, "mov_cr3"))
		asm volatile("movl %%eax, %%cr3" ::: "eax");
	else if (!strcmp(what, "mov_ss_kernel"))
		asm volatile("movw $0x10, %%ax; movw %%ax, %%ss" ::: "eax");
	else if (!strcmp(what, "idiv_overflow"))
		asm volatile("movl $0x80000000, %%eax; cdq; movl $-1, %%ecx; idivl %%ecx"
			     ::: "eax", "edx", "ecx");
	else if (!strcmp(what, "rdmsr"))
		asm volatile("rdmsr" ::: "eax", "edx");
	else if (!strcmp(what, "lock_nop"))
		asm volatile(".byte 0xf0; nop");
	else if (!strcmp(what, "stack_overflow"))
		recurse(100000);
	else if (!strcmp(what, "jmp_kernel"))
		asm volatile("jmp *%0" :: "r" (0xf0100000));
	else if (!strcmp(what, "jmp_null"))
		asm volatile("jmp *%0" :: "r" (0));
	else if (!strcmp(what, "esp_kernel"))
		asm volatile("movl $0xf0001000, %%esp; pushl $1" ::: "memory");
	else if (!strcmp(what, "syscall_esp_kernel"))
		asm volatile("movl %%esp, %%ebx; movl $0xf0001000, %%esp; movl %1, %%eax;"
			     "int $0x30; movl %%ebx, %%esp"
			     : "=a" (id) : "i" (SYS_getenvid) : "ebx", "ecx", "edx", "esi", "edi", "memory");
	else if (!strcmp(what, "write_text"))
		*(volatile int *) umain = 0;
	else if (!strcmp(what, "write_envs"))
		*(volatile int *) &envs[0].env_status = ENV_RUNNABLE;
	else if (!strcmp(what, "write_uvpt"))
		uvpt[PGNUM(UTEXT)] = 0xffffffff;
	else if (!strcmp(what, "read_trampoline_page"))
		cprintf("read %x\n", *(volatile uint8_t *) (UENVS + 0x20000));
	else if (!strcmp(what, "jump_trampoline"))
		asm volatile("movl $2, %%eax; jmp *%0" :: "r" (UENVS + 0x20000) : "eax");
	else if (!strcmp(what, "exception_stack_overflow")) {
		set_pgfault_handler(refault);
		*(volatile int *) 0x50000000 = 1;
	} else if (!strcmp(what, "uxstack_readonly")) {
		set_pgfault_handler(refault);
		sys_page_map(0, (void *) (UXSTACKTOP - PGSIZE), 0, (void *) (UXSTACKTOP - PGSIZE),
			     PTE_P | PTE_U);
		*(volatile int *) 0x50000000 = 1;
	} else if (!strcmp(what, "upcall_no_return")) {
		sys_env_set_pgfault_upcall(0, (void *) 0x800020);	/* _start */
		*(volatile int *) 0x50000000 = 1;
	}
	cprintf("survived %s\n", what);
}
"""

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
def exceptions_program(tmp_path_factory) -> str:
    return write(tmp_path_factory.mktemp("exc"), "exceptions", EXCEPTIONS)


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


@pytest.mark.xfail(strict=True, reason="Unicorn executes in/out in ring 3 (IOPL 0) as "
                   "no-ops instead of raising #GP; JOS kills the env")
@pytest.mark.parametrize("insn", ["inb $0x60, %%al", "outb %%al, $0x80"])
def test_port_io_is_a_general_protection_fault(tmp_path, run_programs, grade, insn):
    src = ('#include <inc/lib.h>\nvoid umain(int argc, char **argv) {\n'
           f'\tasm volatile("{insn}" ::: "eax");\n'
           '\tcprintf("port io worked\\n");\n}\n')
    text, _k, result = run_programs([write(tmp_path, "portio", src)])
    grade(text, required=[r"  trap 0x0000000d General Protection"],
          forbidden=[r"port io worked"])


@pytest.mark.xfail(strict=True, reason="Unicorn treats sysenter/syscall as no-ops (hook "
                   "points); on i386 with SYSENTER_CS_MSR = 0 sysenter is #GP, syscall #UD")
@pytest.mark.parametrize("insn", ["sysenter", "syscall"])
def test_fast_syscall_instructions_fault(tmp_path, run_programs, grade, insn):
    src = ('#include <inc/lib.h>\nvoid umain(int argc, char **argv) {\n'
           f'\tasm volatile("{insn}");\n'
           f'\tcprintf("{insn} returned\\n");\n}}\n')
    text, _k, result = run_programs([write(tmp_path, "fastsys", src)])
    grade(text, required=[r"  trap 0x0000000(d|6) .*"], forbidden=[rf"{insn} returned"])


# --- segment registers and flags across context switches --------------------------------
ES_ZERO = PRELUDE + """
void
umain(int argc, char **argv)
{
	uint16_t es;
	int i;
	volatile int j;

	cprintf("A start\\n");
	/* A null %es and the direction flag set: both are ours alone. */
	asm volatile("movw $0, %%ax; movw %%ax, %%es; std" ::: "eax", "cc");
	for (i = 0; i < 6; i++) {
		sys_yield();
		for (j = 0; j < 30000; j++)	/* long enough to be preempted */
			;
	}
	asm volatile("movw %%es, %0" : "=r" (es));
	asm volatile("pushfl; popl %0" : "=r" (i));
	asm volatile("movw $0x23, %%ax; movw %%ax, %%es; cld" ::: "eax", "cc");
	cprintf("A es %x df %d\\n", es, (i >> 10) & 1);
}
"""

STRING_OPS = PRELUDE + """
static char src[8192], dst[8192];

void
umain(int argc, char **argv)
{
	int round, i, bad = 0;
	uint16_t es;
	volatile int j;

	for (round = 0; round < 12; round++) {
		char c = 'a' + round;
		void *d = src, *s = src;
		size_t n = sizeof src;

		/* No cld: the ABI promises DF = 0, and the kernel must keep it so. */
		asm volatile("rep stosb" : "+D" (d), "+c" (n) : "a" (c) : "memory");
		d = dst, n = sizeof dst;
		asm volatile("rep movsb" : "+S" (s), "+D" (d), "+c" (n) : : "memory");
		for (i = 0; i < (int) sizeof dst; i++)
			if (dst[i] != c || src[i] != c)
				bad++;
		memset(dst, 0, sizeof dst);
		memcpy(dst, src, 100);
		if (dst[99] != c || dst[100] != 0)
			bad++;
		sys_yield();
		for (j = 0; j < 20000; j++)
			;
	}
	asm volatile("movw %%es, %0" : "=r" (es));
	cprintf("B es %x bad %d\\n", es, bad);
	cprintf(bad ? "B FAILED\\n" : "B OK\\n");
}
"""

DS_ZERO = PRELUDE + """
void
umain(int argc, char **argv)
{
	uint32_t ds = 0;
	int i;

	cprintf("C start\\n");
	/* A null %ds across yields and preemption, touching memory only
	 * through %ss (the stack) while it is loaded. */
	for (i = 0; i < 4; i++)
		asm volatile("movw $0, %%ax; movw %%ax, %%ds;"
			     "movl %1, %%eax; int $0x30;"
			     "movl $200000, %%ecx; 1: loop 1b;"
			     "movl %%ds, %0;"
			     "movw $0x23, %%ax; movw %%ax, %%ds"
			     : "=d" (ds) : "i" (SYS_yield) : "eax", "ecx", "memory");
	cprintf("C ds %x\\n", ds);
}
"""


@pytest.fixture(scope="module")
def segment_programs(tmp_path_factory) -> list[str]:
    tmp = tmp_path_factory.mktemp("segs")
    return [write(tmp, "eszero", ES_ZERO), write(tmp, "stringops", STRING_OPS),
            write(tmp, "dszero", DS_ZERO)]


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




def test_exit_does_not_leak_es(tmp_path, run_programs, grade):
    """An env that loads a null %es and exits at once must not hand it on."""
    esexit = PRELUDE + """
void
umain(int argc, char **argv)
{
	/* Load a null %es and exit, with no other trap in between. */
	asm volatile("movw $0, %%ax; movw %%ax, %%es;"
		     "movl %0, %%eax; xorl %%edx, %%edx; int $0x30"
		     :: "i" (SYS_env_destroy) : "eax", "edx", "memory");
}
"""
    report = PRELUDE + """
void
umain(int argc, char **argv)
{
	uint32_t es = 0, ds = 0;

	asm volatile("movl %%es, %0; movl %%ds, %1" : "=r" (es), "=r" (ds));
	cprintf("B es %x ds %x\\n", es, ds);
}
"""
    text, _k, result = run_programs([write(tmp_path, "esexit", esexit),
                                     write(tmp_path, "esreport", report)])
    assert result.reason == "idle"
    grade(text, required=[r"\[00001000\] exiting gracefully", r"B es 23 ds 23"])


def test_segments_survive_fork(tmp_path, run_programs, grade):
    """A forked child inherits the parent's %es (exofork copies the whole frame)."""
    src = PRELUDE + """
void
umain(int argc, char **argv)
{
	uint32_t es = 0;
	envid_t who;

	asm volatile("movw $0, %%ax; movw %%ax, %%es" ::: "eax");
	who = fork();
	asm volatile("movl %%es, %0" : "=r" (es));
	asm volatile("movw $0x23, %%ax; movw %%ax, %%es" ::: "eax");
	cprintf("%s es %x\\n", who == 0 ? "child" : "parent", es);
}
"""
    text, _k, result = run_programs([write(tmp_path, "forkes", src)])
    assert result.reason == "idle"
    grade(text, required=[r"parent es 0", r"child es 0", r"\[00001001\] exiting gracefully"],
          forbidden=[r".*panic.*", r"TRAP frame.*"])


def test_segments_survive_fork_with_a_yield(tmp_path, run_programs, grade):
    """The same, but the parent yields (a frame save) before exiting: no stale cache."""
    src = PRELUDE + """
void
umain(int argc, char **argv)
{
	uint32_t es = 0;
	envid_t who;

	asm volatile("movw $0, %%ax; movw %%ax, %%es" ::: "eax");
	who = fork();
	asm volatile("movl %%es, %0" : "=r" (es));
	asm volatile("movw $0x23, %%ax; movw %%ax, %%es" ::: "eax");
	if (who != 0)
		sys_yield();
	cprintf("%s es %x\\n", who == 0 ? "child" : "parent", es);
}
"""
    text, _k, result = run_programs([write(tmp_path, "forkesy", src)])
    assert result.reason == "idle"
    grade(text, required=[r"parent es 0", r"child es 0"],
          forbidden=[r".*panic.*", r"TRAP frame.*"])


# --- the TLB follows every page-table change ---------------------------------------------
TLB = PRELUDE + """
#define P	0x10000000
#define Q	0x10001000

static int faults, last_err;

static void
handler(struct UTrapframe *utf)
{
	int r;

	faults++;
	last_err = utf->utf_err;
	if (ROUNDDOWN(utf->utf_fault_va, PGSIZE) != P)
		panic("unexpected fault at %x", utf->utf_fault_va);
	if (utf->utf_err & FEC_PR) {	/* write to a read-only page: a private copy */
		if ((r = sys_page_alloc(0, PFTEMP, PUW)) < 0)
			panic("handler: %e", r);
		memmove(PFTEMP, (void *) P, PGSIZE);
		r = sys_page_map(0, PFTEMP, 0, (void *) P, PUW);
		sys_page_unmap(0, PFTEMP);
	} else				/* not present: a fresh page */
		r = sys_page_alloc(0, (void *) P, PUW);
	if (r < 0)
		panic("handler: %e", r);
}

void
umain(int argc, char **argv)
{
	volatile int *p = (volatile int *) P, *q = (volatile int *) Q;

	set_pgfault_handler(handler);
	sys_page_alloc(0, (void *) P, PUW);
	sys_page_alloc(0, (void *) Q, PUW);
	*p = 1;
	*q = 2;
	R("p_before", *p);	/* now cached in the TLB */

	sys_page_map(0, (void *) Q, 0, (void *) P, PUW);	/* another frame at P */
	R("p_remapped", *p);
	*p = 5;
	R("q_shared", *q);

	sys_page_map(0, (void *) P, 0, (void *) P, PU);	/* downgrade to read-only */
	R("p_readonly_read", *p);
	R("faults_before_write", faults);
	*p = 3;						/* faults once, then retried */
	R("faults_after_write", faults);
	R("err_after_write", last_err);
	R("p_written", *p);

	sys_page_unmap(0, (void *) P);
	R("p_unmapped_read", *p);			/* faults, gets a zero page */
	R("faults_after_unmap", faults);
	R("err_after_unmap", last_err);
	R("q_kept", *q);
	cprintf("tlb done\\n");
}
"""

TLB_EXPECTED = {
    "p_before": 1, "p_remapped": 2, "q_shared": 5, "p_readonly_read": 5,
    "faults_before_write": 0, "faults_after_write": 1, "err_after_write": 7, "p_written": 3,
    "p_unmapped_read": 0, "faults_after_unmap": 2, "err_after_unmap": 4, "q_kept": 5,
}


@pytest.mark.parametrize("quantum", [50_000, 300])
def test_tlb_follows_page_table_changes(tmp_path, run_programs, quantum):
    text, _k, result = run_programs([write(tmp_path, "tlb", TLB)], quantum=quantum)
    assert result.reason == "idle", text
    assert "tlb done" in text and "panic" not in text, text
    assert results(text) == TLB_EXPECTED, text


# --- the monitor reads user memory carefully ------------------------------------------------
BACKTRACE = r"""
#include <inc/lib.h>

static uint32_t loop[8];

void
umain(int argc, char **argv)
{
	uint32_t ebp;
	const char *what = argc > 1 ? argv[1] : "";

	if (!strcmp(what, "kernel"))
		ebp = 0xf0000000;
	else if (!strcmp(what, "loop")) {
		loop[0] = (uint32_t) loop;	/* a frame that points to itself */
		ebp = (uint32_t) loop;
	} else if (!strcmp(what, "edge"))
		ebp = USTACKTOP - 8;	/* the frame's words run off the stack */
	else
		ebp = 0x50000000;	/* unmapped */
	asm volatile("movl %%ebp, %%esi; movl %0, %%ebp; int3; movl %%esi, %%ebp"
		     :: "r" (ebp) : "esi", "memory");
	cprintf("back from the monitor\n");
}
"""


@pytest.mark.parametrize("what, frames", [("kernel", 0), ("unmapped", 0), ("edge", 0),
                                          ("loop", 64)])
def test_backtrace_with_a_wild_ebp(tmp_path, run_programs, grade, what, frames):
    text, _k, result = run_programs([write(tmp_path, "bt", BACKTRACE)], [what],
                                    monitor_input=["backtrace", "continue"])
    assert result.reason == "idle", text
    grade(text, required=[r"Stack backtrace:", r"back from the monitor",
                          r"\[00001000\] exiting gracefully"],
          forbidden=[r".*panic.*"])
    assert len(re.findall(r"^  ebp [0-9a-f]{8}  eip ", text, re.M)) == frames, text
