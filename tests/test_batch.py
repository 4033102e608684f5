"""sys_batch (inc/batch.h) and sys_fork (kfork.py), tested from guest programs.

Each program below is written into a temporary directory, built and run; it
prints what the kernel returned and the Python side checks it against the
contract in inc/batch.h, sentence by sentence.  Result slots the kernel did
not store keep the sentinel 0x5a5a5a5a and are printed as "-".
"""

from __future__ import annotations

import re

import pytest

from pyjos.kernel import Kernel, KernelConfig

NO_PANIC = [r".*user panic.*", r"kernel panic.*"]
IDLE = r"No runnable environments in the system!"
# A bound on every run, far above what these programs need (under 100 time
# slices of 10,000), so that a broken kernel or library fails a test with
# reason "max-insns" instead of hanging.
LIMIT = {"max_insns": 20_000_000}

E_BAD_ENV, E_INVAL, E_NO_MEM, E_FAULT = -2, -3, -4, -6
BATCH_MAX = 4096
ENV0 = 0x1000  # the first env's id

# --- guest programs ---------------------------------------------------------------------
BATCHCHECK = r"""
#include <inc/lib.h>
#include <inc/batch.h>

#define SENT	0x5a5a5a5a		/* a result slot the kernel did not store */
#define PUW	(PTE_P | PTE_U | PTE_W)
#define VA(i)	(0x10000000 + (i) * PGSIZE)
#define RO_VA	0x20000000		/* a read-only page */
#define ROARR	0x20001000		/* descriptors on a read-only page */
#define EDGE	0x20003000		/* mapped; the page after it is not */
#define SELF	0x20005000		/* descriptors the batch write-protects */
#define SELF2	0x20007000		/* descriptors the batch unmaps */
#define BIG	0x30000000		/* BATCH_MAX descriptors */
#define NOENV	0x00001001		/* an env id that names no env */

struct BatchCall calls[16];

static void
set_in(struct BatchCall *c, uint32_t num, uint32_t a1, uint32_t a2, uint32_t a3,
       uint32_t a4, uint32_t a5)
{
	c->bc_num = num;
	c->bc_args[0] = a1;
	c->bc_args[1] = a2;
	c->bc_args[2] = a3;
	c->bc_args[3] = a4;
	c->bc_args[4] = a5;
	c->bc_result = SENT;
}

#define set(i, ...)	set_in(&calls[i], __VA_ARGS__)

/* "name: ret R results r0 r1 ..." with - for an untouched slot. */
static void
report_in(const char *name, int r, struct BatchCall *c, int n)
{
	int i;

	cprintf("%s: ret %d results", name, r);
	for (i = 0; i < n; i++) {
		if (c[i].bc_result == SENT)
			cprintf(" -");
		else
			cprintf(" %d", c[i].bc_result);
	}
	cprintf("\n");
}

#define report(name, r, n)	report_in(name, r, calls, n)

static int
mapped(uint32_t va)
{
	return (uvpd[PDX(va)] & PTE_P) && (uvpt[PGNUM(va)] & PTE_P);
}

/* A system call made alone, by number. */
static int32_t
raw(uint32_t num, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5)
{
	int32_t ret;

	asm volatile("int %1"
		     : "=a" (ret)
		     : "i" (T_SYSCALL), "a" (num), "d" (a1), "c" (a2),
		       "b" (a3), "D" (a4), "S" (a5)
		     : "cc", "memory");
	return ret;
}

static void
must(int r, const char *what)
{
	if (r < 0)
		panic("%s: %e", what, r);
}

static void
refused(const char *name, uint32_t num, uint32_t a1, uint32_t a2, int k)
{
	char label[32];
	int r;

	set(0, SYS_getenvid, 0, 0, 0, 0, 0);
	set(1, num, a1, a2, 0, 0, 0);
	set(2, SYS_page_alloc, 0, VA(20 + k), PUW, 0, 0);
	r = sys_batch(calls, 3, 0);
	snprintf(label, sizeof label, "refused %s", name);
	report(label, r, 3);
	cprintf("refused %s: mapped %d\n", name, mapped(VA(20 + k)));
}

void
umain(int argc, char **argv)
{
	envid_t me = sys_getenvid();
	struct BatchCall *c;
	int r, i, ok;
	int32_t alone[9];

	cprintf("envid %d\n", me);

	/* (1) three calls that succeed */
	set(0, SYS_page_alloc, 0, VA(0), PUW, 0, 0);
	set(1, SYS_page_alloc, 0, VA(1), PUW, 0, 0);
	set(2, SYS_getenvid, 0, 0, 0, 0, 0);
	r = sys_batch(calls, 3, 0);
	report("three", r, 3);
	cprintf("three: mapped %d %d\n", mapped(VA(0)), mapped(VA(1)));

	/* (2) stop after the first error */
	set(0, SYS_page_alloc, 0, VA(2), PUW, 0, 0);
	set(1, SYS_page_alloc, 0, VA(3), PTE_P, 0, 0);
	set(2, SYS_page_alloc, 0, VA(4), PUW, 0, 0);
	r = sys_batch(calls, 3, 0);
	report("stop", r, 3);
	cprintf("stop: mapped %d %d %d\n", mapped(VA(2)), mapped(VA(3)), mapped(VA(4)));

	/* (3) BATCH_CONTINUE runs them all */
	set(0, SYS_page_alloc, 0, VA(5), PUW, 0, 0);
	set(1, SYS_page_alloc, 0, VA(6), PTE_P, 0, 0);
	set(2, SYS_page_alloc, 0, VA(7), PUW, 0, 0);
	r = sys_batch(calls, 3, BATCH_CONTINUE);
	report("continue", r, 3);
	cprintf("continue: mapped %d %d %d\n", mapped(VA(5)), mapped(VA(6)), mapped(VA(7)));

	/* (4) each call has its normal checks */
	must(sys_page_alloc(0, (void *) RO_VA, PUW), "alloc RO_VA");
	must(sys_page_map(0, (void *) RO_VA, 0, (void *) RO_VA, PTE_P | PTE_U), "map RO_VA");
	set(0, SYS_page_alloc, NOENV, VA(8), PUW, 0, 0);
	set(1, SYS_page_alloc, 0, UTOP, PUW, 0, 0);
	set(2, SYS_page_map, 0, RO_VA, 0, VA(8), PUW);
	set(3, 999, 0, 0, 0, 0, 0);
	set(4, SYS_page_alloc, 0, VA(9) + 1, PUW, 0, 0);
	set(5, SYS_env_set_status, 0, 99, 0, 0, 0);
	set(6, SYS_page_map, 0, VA(10), 0, VA(11), PTE_P | PTE_U);
	set(7, SYS_env_destroy, NOENV, 0, 0, 0, 0);
	set(8, SYS_page_map, 0, RO_VA, 0, VA(12), PTE_P | PTE_U);
	r = sys_batch(calls, 9, BATCH_CONTINUE);
	report("checks", r, 9);
	cprintf("checks: mapped %d %d %d %d same frame %d\n", mapped(VA(8)), mapped(VA(9)),
		mapped(VA(11)), mapped(VA(12)),
		PTE_ADDR(uvpt[PGNUM(VA(12))]) == PTE_ADDR(uvpt[PGNUM(RO_VA)]));
	must(sys_page_unmap(0, (void *) VA(12)), "unmap VA(12)");
	for (i = 0; i < 9; i++)
		alone[i] = raw(calls[i].bc_num, calls[i].bc_args[0], calls[i].bc_args[1],
			       calls[i].bc_args[2], calls[i].bc_args[3], calls[i].bc_args[4]);
	cprintf("alone: ret 9 results");
	for (i = 0; i < 9; i++)
		cprintf(" %d", alone[i]);
	cprintf("\n");

	/* (5) a bad descriptor array: -E_FAULT, the caller lives on */
	cprintf("fault: low %d kernel %d envs %d\n",
		sys_batch((struct BatchCall *) 0x10, 1, 0),
		sys_batch((struct BatchCall *) 0xf0000000, 1, 0),
		sys_batch((struct BatchCall *) UENVS, 1, 0));
	cprintf("fault: still alive\n");

	/* counts, flags, alignment: -E_INVAL and nothing runs */
	set(0, SYS_page_alloc, 0, VA(13), PUW, 0, 0);
	cprintf("limits: neg %d max %d flags %d high %d align %d zero %d\n",
		sys_batch(calls, -1, 0), sys_batch(calls, BATCH_MAX + 1, 0),
		sys_batch(calls, 1, 0x2), sys_batch(calls, 1, 0x80000000),
		sys_batch((struct BatchCall *) ((char *) calls + 2), 1, 0),
		sys_batch(calls, 0, 0));
	report("limits", 0, 1);
	cprintf("limits: mapped %d\n", mapped(VA(13)));

	/* descriptors on a read-only page: -E_FAULT, nothing runs */
	must(sys_page_alloc(0, (void *) ROARR, PUW), "alloc ROARR");
	c = (struct BatchCall *) ROARR;
	set_in(&c[0], SYS_page_alloc, 0, VA(14), PUW, 0, 0);
	must(sys_page_map(0, (void *) ROARR, 0, (void *) ROARR, PTE_P | PTE_U), "map ROARR");
	r = sys_batch(c, 1, 0);
	report_in("rodesc", r, c, 1);
	cprintf("rodesc: mapped %d\n", mapped(VA(14)));

	/* an array running off the end of mapped memory: -E_FAULT, nothing runs */
	must(sys_page_alloc(0, (void *) EDGE, PUW), "alloc EDGE");
	c = (struct BatchCall *) (EDGE + PGSIZE - sizeof(struct BatchCall));
	set_in(&c[0], SYS_page_alloc, 0, VA(15), PUW, 0, 0);
	r = sys_batch(c, 2, 0);
	report_in("edge", r, c, 1);
	cprintf("edge: mapped %d\n", mapped(VA(15)));
	r = sys_batch(c, 1, 0);
	report_in("edge-one", r, c, 1);
	cprintf("edge-one: mapped %d\n", mapped(VA(15)));

	/* a call that write-protects or unmaps the array: -E_FAULT, all ran */
	must(sys_page_alloc(0, (void *) SELF, PUW), "alloc SELF");
	c = (struct BatchCall *) SELF;
	set_in(&c[0], SYS_page_alloc, 0, VA(16), PUW, 0, 0);
	set_in(&c[1], SYS_page_map, 0, SELF, 0, SELF, PTE_P | PTE_U);
	set_in(&c[2], SYS_page_alloc, 0, VA(17), PUW, 0, 0);
	r = sys_batch(c, 3, 0);
	report_in("selfprotect", r, c, 3);
	cprintf("selfprotect: mapped %d %d w %d\n", mapped(VA(16)), mapped(VA(17)),
		!!(uvpt[PGNUM(SELF)] & PTE_W));
	must(sys_page_alloc(0, (void *) SELF2, PUW), "alloc SELF2");
	c = (struct BatchCall *) SELF2;
	set_in(&c[0], SYS_page_alloc, 0, VA(18), PUW, 0, 0);
	set_in(&c[1], SYS_page_unmap, 0, SELF2, 0, 0, 0);
	set_in(&c[2], SYS_page_alloc, 0, VA(19), PUW, 0, 0);
	r = sys_batch(c, 3, 0);
	cprintf("selfunmap: ret %d mapped %d %d array %d\n", r, mapped(VA(18)), mapped(VA(19)),
		mapped(SELF2));

	/* BATCH_MAX calls at once */
	for (i = 0; i < ROUNDUP(BATCH_MAX * sizeof(struct BatchCall), PGSIZE) / PGSIZE; i++)
		must(sys_page_alloc(0, (void *) (BIG + i * PGSIZE), PUW), "alloc BIG");
	c = (struct BatchCall *) BIG;
	for (i = 0; i < BATCH_MAX; i++)
		set_in(&c[i], SYS_getenvid, 0, 0, 0, 0, 0);
	r = sys_batch(c, BATCH_MAX, 0);
	for (ok = 0, i = 0; i < BATCH_MAX; i++)
		ok += c[i].bc_result == me;
	cprintf("max: ret %d right %d\n", r, ok);

	/* (6) calls a batch refuses */
	refused("exofork", SYS_exofork, 0, 0, 0);
	refused("fork", SYS_fork, 0, 0, 1);
	refused("ipc_recv", SYS_ipc_recv, UTOP, 0, 2);
	refused("ipc_recv-page", SYS_ipc_recv, VA(30), 0, 3);
	refused("batch", SYS_batch, (uint32_t) &calls[0], 1, 4);
	set(0, SYS_exofork, 0, 0, 0, 0, 0);
	set(1, SYS_getenvid, 0, 0, 0, 0, 0);
	r = sys_batch(calls, 2, BATCH_CONTINUE);
	report("refused-continue", r, 2);

	/* (7) a yield does not end the batch */
	set(0, SYS_yield, 0, 0, 0, 0, 0);
	set(1, SYS_getenvid, 0, 0, 0, 0, 0);
	r = sys_batch(calls, 2, 0);
	report("yield", r, 2);

	cprintf("batchcheck: done\n");
}
"""

BDESTROY = r"""
#include <inc/lib.h>
#include <inc/batch.h>

#define SENT	0x5a5a5a5a
#define SHARED	0x10000000	/* descriptors, shared with the parent */

static const char msg[] = "SHOULD NOT PRINT (call after destroy)\n";

void
umain(int argc, char **argv)
{
	struct BatchCall *c = (struct BatchCall *) SHARED;
	int self = argc > 1 && strcmp(argv[1], "self") == 0;
	envid_t id;
	int r, i;

	if ((r = sys_page_alloc(0, c, PTE_P | PTE_U | PTE_W | PTE_SHARE)) < 0)
		panic("sys_page_alloc: %e", r);
	if ((id = fork()) < 0)
		panic("fork: %e", id);
	if (id == 0) {
		envid_t me = sys_getenvid();
		struct BatchCall mine[4] = {
			{ SYS_getenvid, { 0 }, SENT },
			{ SYS_env_destroy, { self ? me : 0 }, SENT },
			{ SYS_cputs, { (uint32_t) msg, sizeof msg - 1 }, SENT },
			{ SYS_page_alloc, { 0, 0x10001000, PTE_P | PTE_U | PTE_W }, SENT },
		};
		memmove(c, mine, sizeof mine);
		r = sys_batch(c, 4, BATCH_CONTINUE);
		cprintf("SHOULD NOT PRINT (after the batch: %d)\n", r);
		return;
	}
	while (envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE)
		sys_yield();
	cprintf("child %d results", id);
	for (i = 0; i < 4; i++) {
		if (c[i].bc_result == SENT)
			cprintf(" -");
		else
			cprintf(" %d", c[i].bc_result);
	}
	cprintf("\n");
}
"""

BSCHED = r"""
#include <inc/lib.h>
#include <inc/batch.h>

#define SENT	0x5a5a5a5a

static const char rest_y[] = "parent: rest of the batch ran\n";
static const char rest_s[] = "child: rest of the batch ran\n";

static int
alive(envid_t id)
{
	return envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE;
}

void
umain(int argc, char **argv)
{
	envid_t id;
	int r;

	/* sys_yield in a batch: the rest of the batch runs first */
	if ((id = fork()) < 0)
		panic("fork: %e", id);
	if (id == 0) {
		ipc_recv(0, 0, 0);
		cprintf("child: ran\n");
		return;
	}
	while (!envs[ENVX(id)].env_ipc_recving)
		sys_yield();
	{
		struct BatchCall c[3] = {
			{ SYS_ipc_try_send, { id, 1, UTOP, 0 }, SENT },
			{ SYS_yield, { 0 }, SENT },
			{ SYS_cputs, { (uint32_t) rest_y, sizeof rest_y - 1 }, SENT },
		};
		r = sys_batch(c, 3, 0);
		cprintf("parent: after the batch: ret %d results %d %d %d\n", r,
			c[0].bc_result, c[1].bc_result, c[2].bc_result);
	}
	while (alive(id))
		sys_yield();

	/* sys_env_set_status(0, NOT_RUNNABLE) in a batch: the same */
	if ((id = fork()) < 0)
		panic("fork: %e", id);
	if (id == 0) {
		struct BatchCall c[3] = {
			{ SYS_env_set_status, { 0, ENV_NOT_RUNNABLE }, SENT },
			{ SYS_cputs, { (uint32_t) rest_s, sizeof rest_s - 1 }, SENT },
			{ SYS_getenvid, { 0 }, SENT },
		};
		r = sys_batch(c, 3, 0);
		cprintf("child: woken: ret %d results %d %d %d\n", r,
			c[0].bc_result, c[1].bc_result, c[2].bc_result == sys_getenvid());
		return;
	}
	while (alive(id) && envs[ENVX(id)].env_status != ENV_NOT_RUNNABLE)
		sys_yield();
	cprintf("parent: child not runnable: %d\n", envs[ENVX(id)].env_status == ENV_NOT_RUNNABLE);
	if ((r = sys_env_set_status(id, ENV_RUNNABLE)) < 0)
		panic("sys_env_set_status: %e", r);
	while (alive(id))
		sys_yield();
	cprintf("parent: done\n");
}
"""

BCOW = r"""
#include <inc/lib.h>
#include <inc/batch.h>

#define SENT	0x5a5a5a5a
#define PUW	(PTE_P | PTE_U | PTE_W)
#define NEWPAGE	0x10000000	/* allocated by the batch */
#define CHILDVIEW 0x10001000	/* where the parent maps the child's page */

/* The descriptors, alone on a writable .bss page. */
union {
	struct BatchCall c[8];
	char pad[PGSIZE];
} bpage __attribute__((aligned(PGSIZE)));

static void
show(const char *who, struct BatchCall *c, int n)
{
	int i;

	cprintf("%s:", who);
	for (i = 0; i < n; i++) {
		if (c[i].bc_result == SENT)
			cprintf(" -");
		else
			cprintf(" %d", c[i].bc_result);
	}
	cprintf("\n");
}

static void
set(int i, uint32_t num, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5)
{
	struct BatchCall *c = &bpage.c[i];

	c->bc_num = num;
	c->bc_args[0] = a1;
	c->bc_args[1] = a2;
	c->bc_args[2] = a3;
	c->bc_args[3] = a4;
	c->bc_args[4] = a5;
	c->bc_result = SENT;
}

void
umain(int argc, char **argv)
{
	uint32_t va = (uint32_t) &bpage;
	envid_t me = sys_getenvid(), child;
	pte_t before, after;
	int r;

	cprintf("envid %d\n", me);
	child = sys_exofork();
	if (child < 0)
		panic("sys_exofork: %e", child);
	if (child == 0)
		panic("the child must never run");

	set(0, SYS_page_map, 0, va, child, va, PTE_P | PTE_U | PTE_COW);
	set(1, SYS_page_map, 0, va, 0, va, PTE_P | PTE_U | PTE_COW);
	set(2, SYS_getenvid, 0, 0, 0, 0, 0);
	set(3, SYS_page_alloc, 0, NEWPAGE, PUW, 0, 0);
	set(4, SYS_getenvid, 0, 0, 0, 0, 0);
	before = uvpt[PGNUM(va)];
	r = sys_batch(bpage.c, 5, 0);
	after = uvpt[PGNUM(va)];
	cprintf("ret %d\n", r);
	show("parent", bpage.c, 5);
	cprintf("parent pte: before w %d cow %d; after w %d cow %d; frame changed %d; ref %d\n",
		!!(before & PTE_W), !!(before & PTE_COW), !!(after & PTE_W), !!(after & PTE_COW),
		PTE_ADDR(before) != PTE_ADDR(after), pages[PGNUM(PTE_ADDR(after))].pp_ref);

	if ((r = sys_page_map(child, (void *) va, 0, (void *) CHILDVIEW, PTE_P | PTE_U)) < 0)
		panic("sys_page_map child: %e", r);
	show("child", (struct BatchCall *) CHILDVIEW, 5);
	cprintf("child frame is the original %d; ref %d\n",
		PTE_ADDR(uvpt[PGNUM(CHILDVIEW)]) == PTE_ADDR(before),
		pages[PGNUM(PTE_ADDR(uvpt[PGNUM(CHILDVIEW)]))].pp_ref);
	sys_page_unmap(0, (void *) CHILDVIEW);
	if ((r = sys_env_destroy(child)) < 0)
		panic("sys_env_destroy: %e", r);
	cprintf("bcow: done\n");
}
"""

BNOMEM = r"""
#include <inc/lib.h>
#include <inc/batch.h>

#define SENT	0x5a5a5a5a
#define PUW	(PTE_P | PTE_U | PTE_W)
#define DESC	0x10000000	/* the descriptors, copy-on-write */
#define ALIAS	0x10001000	/* a second copy-on-write mapping of DESC */
#define FILL	0x20000000	/* where free memory goes */
#define FILL2	0x00c00000	/* pages under an existing page table (the program's) */
#define UPCALL1	0x00801234	/* upcall values: never used, only read back */
#define UPCALL2	0x00805678

int nfill, nfill2;

static void
exhaust(void)
{
	while (sys_page_alloc(0, (void *) (FILL + nfill * PGSIZE), PUW) == 0)
		nfill++;
	/* The failure may be the page table's: fill what is left under a table
	 * that exists, so that no page at all is free. */
	while (nfill2 < 256
	       && sys_page_alloc(0, (void *) (FILL2 - (nfill2 + 1) * PGSIZE), PUW) == 0)
		nfill2++;
}

static void
release(void)
{
	int i;

	for (i = 0; i < nfill; i++)
		sys_page_unmap(0, (void *) (FILL + i * PGSIZE));
	for (i = 0; i < nfill2; i++)
		sys_page_unmap(0, (void *) (FILL2 - (i + 1) * PGSIZE));
}

void
umain(int argc, char **argv)
{
	struct BatchCall *c = (struct BatchCall *) DESC;
	int r;

	if ((r = sys_page_alloc(0, c, PUW)) < 0)
		panic("sys_page_alloc: %e", r);
	c[0].bc_num = SYS_env_set_pgfault_upcall;
	c[0].bc_args[0] = 0;
	c[0].bc_args[1] = UPCALL1;
	c[0].bc_result = SENT;
	c[1].bc_num = SYS_env_set_pgfault_upcall;
	c[1].bc_args[0] = 0;
	c[1].bc_args[1] = UPCALL2;
	c[1].bc_result = SENT;
	c[2].bc_num = SYS_getenvid;
	c[2].bc_result = SENT;
	if ((r = sys_page_map(0, c, 0, (void *) ALIAS, PTE_P | PTE_U | PTE_COW)) < 0
	    || (r = sys_page_map(0, c, 0, c, PTE_P | PTE_U | PTE_COW)) < 0)
		panic("sys_page_map: %e", r);

	exhaust();
	r = sys_batch(c, 3, 0);
	cprintf("nomem: filled %d ret %d upcall %08x slots %08x %08x %08x cow %d\n",
		nfill + nfill2 > 0, r, thisenv->env_pgfault_upcall, c[0].bc_result,
		c[1].bc_result, c[2].bc_result, !!(uvpt[PGNUM(c)] & PTE_COW));
	release();
	r = sys_batch(c, 3, 0);
	cprintf("nomem: retry ret %d slots %d %d %d cow %d w %d\n", r, c[0].bc_result,
		c[1].bc_result, c[2].bc_result == sys_getenvid(), !!(uvpt[PGNUM(c)] & PTE_COW),
		!!(uvpt[PGNUM(c)] & PTE_W));
	cprintf("nomem: alias untouched %d\n", ((struct BatchCall *) ALIAS)[0].bc_result == SENT);
}
"""

BCOUNT = r"""
#include <inc/lib.h>
#include <inc/batch.h>

struct BatchCall calls[2];

void
umain(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "none";
	int i, r;

	for (i = 0; i < 3; i++) {
		uint32_t va = 0x10000000 + i * PGSIZE;
		if (strcmp(mode, "batch") == 0) {
			calls[0].bc_num = SYS_page_alloc;
			calls[0].bc_args[0] = 0;
			calls[0].bc_args[1] = va;
			calls[0].bc_args[2] = PTE_P | PTE_U | PTE_W;
			calls[1].bc_num = SYS_getenvid;
			if ((r = sys_batch(calls, 2, 0)) != 2)
				panic("sys_batch: %d", r);
		} else if (strcmp(mode, "alone") == 0) {
			if ((r = sys_page_alloc(0, (void *) va, PTE_P | PTE_U | PTE_W)) < 0)
				panic("sys_page_alloc: %e", r);
			sys_getenvid();
		}
	}
	cprintf("bcount: done\n");
}
"""

KFORK = r"""
#include <inc/lib.h>

#define PUW	(PTE_P | PTE_U | PTE_W)
#define RW	((volatile int *) 0x10000000)	/* writable */
#define RO	((volatile int *) 0x10001000)	/* read-only */
#define SH	((volatile int *) 0x10002000)	/* PTE_SHARE, writable */
#define XSTACK	(UXSTACKTOP - PGSIZE)

int data_var = 7;

static unsigned
frame(uintptr_t va)
{
	return PTE_ADDR(uvpt[PGNUM(va)]);
}

static unsigned
perm(uintptr_t va)
{
	return uvpt[PGNUM(va)] & PTE_SYSCALL;
}

/* Check every present user page below the exception stack: writable ones
 * must be PTE_SHARE, or pages this env wrote since the fork (its stack,
 * .thisenv page, the pgfault spare); none may be both writable and COW. */
static void
walk(const char *who, uintptr_t stack_lo)
{
	uintptr_t va, thisenv_page = ROUNDDOWN((uintptr_t) &thisenv, PGSIZE);
	int cow = 0, bad = 0;

	for (va = 0; va < XSTACK; va += PGSIZE) {
		pte_t pte;

		if (!(uvpd[PDX(va)] & PTE_P)) {
			va += PTSIZE - PGSIZE;
			continue;
		}
		pte = uvpt[PGNUM(va)];
		if (!(pte & PTE_P))
			continue;
		if ((pte & PTE_W) && (pte & PTE_COW)) {
			cprintf("%s: page %08x is writable and copy-on-write\n", who, va);
			bad++;
		}
		cow += !!(pte & PTE_COW);
		if ((pte & PTE_W) && !(pte & PTE_SHARE) && !(va >= stack_lo && va < USTACKTOP)
		    && va != thisenv_page && va != (uintptr_t) PFTEMP) {
			cprintf("%s: page %08x is writable\n", who, va);
			bad++;
		}
	}
	cprintf("%s: walk cow pages %d bad %d\n", who, cow, bad);
}

void
umain(int argc, char **argv)
{
	volatile int local = 1;
	envid_t id;
	int r;

	if ((r = sys_page_alloc(0, (void *) RW, PUW)) < 0
	    || (r = sys_page_alloc(0, (void *) RO, PUW)) < 0
	    || (r = sys_page_alloc(0, (void *) SH, PUW | PTE_SHARE)) < 0)
		panic("sys_page_alloc: %e", r);
	*RW = 11;
	*RO = 22;
	*SH = 33;
	if ((r = sys_page_map(0, (void *) RO, 0, (void *) RO, PTE_P | PTE_U)) < 0)
		panic("sys_page_map: %e", r);

	id = fork_kernel();
	if (id < 0)
		panic("fork_kernel: %e", id);
	if (id == 0) {
		cprintf("child: fork returned 0, I am %08x, parent %08x\n", sys_getenvid(),
			thisenv->env_parent_id);
		cprintf("child: upcall %08x lib %08x\n", thisenv->env_pgfault_upcall,
			(uintptr_t) _pgfault_upcall);
		cprintf("child: xstack %08x perm %03x\n", frame(XSTACK), perm(XSTACK));
		cprintf("child: rw %08x perm %03x ro %08x perm %03x sh %08x perm %03x "
			"data %08x perm %03x\n",
			frame((uintptr_t) RW), perm((uintptr_t) RW), frame((uintptr_t) RO),
			perm((uintptr_t) RO), frame((uintptr_t) SH), perm((uintptr_t) SH),
			frame((uintptr_t) &data_var), perm((uintptr_t) &data_var));
		cprintf("child: sees %d %d %d %d %d\n", *RW, *RO, *SH, data_var, local);
		walk("child", ROUNDDOWN((uintptr_t) &local, PGSIZE));
		*SH = 44;
		*RW = 55;
		data_var = 66;
		cprintf("child: after writes rw %08x perm %03x\n", frame((uintptr_t) RW),
			perm((uintptr_t) RW));
		return;
	}
	cprintf("parent: child %08x\n", id);
	cprintf("parent: upcall %08x\n", thisenv->env_pgfault_upcall);
	cprintf("parent: xstack %08x perm %03x\n", frame(XSTACK), perm(XSTACK));
	cprintf("parent: rw %08x perm %03x ro %08x perm %03x sh %08x perm %03x "
		"data %08x perm %03x\n",
		frame((uintptr_t) RW), perm((uintptr_t) RW), frame((uintptr_t) RO),
		perm((uintptr_t) RO), frame((uintptr_t) SH), perm((uintptr_t) SH),
		frame((uintptr_t) &data_var), perm((uintptr_t) &data_var));
	walk("parent", ROUNDDOWN((uintptr_t) &local, PGSIZE));
	while (envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE)
		sys_yield();
	cprintf("parent: sees %d %d %d %d %d\n", *RW, *RO, *SH, data_var, local);
}
"""

KEXHAUST = r"""
#include <inc/lib.h>

#define EXTRA	0x10000000	/* extra pages, one per page table */
#define NEXTRA	8

envid_t kids[NENV];  /* written by the parent only */

static int
alive(envid_t id)
{
	return envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE;
}

void
umain(int argc, char **argv)
{
	int n = 0, i, r, live = 0, kids_alive = 0;
	envid_t id;

	for (i = 0; i < NEXTRA; i++)
		if ((r = sys_page_alloc(0, (void *) (EXTRA + i * PTSIZE),
					PTE_P | PTE_U | PTE_W)) < 0)
			panic("sys_page_alloc: %e", r);
	for (;;) {
		id = fork_kernel();
		if (id == 0) {
			ipc_recv(0, 0, 0);  /* wait to be destroyed */
			panic("child woke up");
		}
		if (id < 0)
			break;
		kids[n++] = id;
	}
	for (i = 0; i < NENV; i++)
		live += envs[i].env_status != ENV_FREE;
	for (i = 0; i < n; i++)
		kids_alive += alive(kids[i]);
	cprintf("sys_fork failed after %d children: %e\n", n, id);
	cprintf("live envs %d, children alive %d\n", live, kids_alive);
	for (i = 0; i < n; i++)
		if (alive(kids[i]) && (r = sys_env_destroy(kids[i])) < 0)
			panic("sys_env_destroy: %e", r);
	cprintf("kexhaust: parent done\n");
}
"""


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


def write(tmp_path, name: str, source: str) -> str:
    path = tmp_path / f"{name}.c"
    path.write_text(source)
    return str(path)


@pytest.fixture(scope="module")
def srcdir(tmp_path_factory):
    return tmp_path_factory.mktemp("batch")


@pytest.fixture(scope="module")
def batchcheck(srcdir, run_programs):
    """BATCHCHECK run once: (text, results)."""
    text, _k, result = run_programs([write(srcdir, "batchcheck", BATCHCHECK)], **LIMIT)
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
def bsched(srcdir, run_programs):
    text, _k, result = run_programs([write(srcdir, "bsched", BSCHED)], **LIMIT)
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
def test_env_destroy_of_caller_ends_the_batch(srcdir, run_programs, grade, how):
    text, _k, result = run_programs([write(srcdir, "bdestroy", BDESTROY)], [how], **LIMIT)
    assert result.reason == "idle", text
    grade(text, required=[r"\[00001001\] exiting gracefully", r"\[00001001\] free env 00001001",
                          r"\[00001000\] exiting gracefully"],
          forbidden=[r".*SHOULD NOT PRINT.*", r".*destroying.*", *NO_PANIC])
    # seen by the parent through the shared page: nothing was stored, not even
    # the result of the call before the destroy (the later ones never ran)
    assert line(text, "child 4097 results ") == "- - - -", text


# --- (9): result slots on a page the batch made copy-on-write -----------------------------------
@pytest.fixture(scope="module")
def bcow(srcdir, run_programs):
    text, k, result = run_programs([write(srcdir, "bcow", BCOW)], **LIMIT)
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


def test_cow_copy_fails_enomem_after_the_calls_ran(srcdir, run_programs):
    """-E_NO_MEM: the results' copy-on-write page cannot be copied; the calls ran."""
    text, _k, result = run_programs([write(srcdir, "bnomem", BNOMEM)], mem=8 * 1024 * 1024,
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
def bcount(srcdir, run_programs):
    path = write(srcdir, "bcount", BCOUNT)
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
def kfork(srcdir, run_programs):
    text, k, result = run_programs([write(srcdir, "kfork", KFORK)], **LIMIT)
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


def test_sys_fork_out_of_memory_is_atomic(srcdir, grade):
    """sys_fork until -E_NO_MEM: no half-made child, nothing leaked, the parent goes on.

    6 MiB: small enough to run out, and the parent's own copy-on-write faults
    after the last successful fork still find a page (at some sizes, e.g.
    8 MiB, they do not, and the parent's handler panics: the children's pages
    are overcommitted, which sys_fork's atomicity does not cover).
    """
    out: list[str] = []
    k = Kernel(KernelConfig(mem=6 * 1024 * 1024, **LIMIT), out=out.append)
    k.create_env(write(srcdir, "kexhaust", KEXHAUST))
    result = k.run()
    text = "".join(out)
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
