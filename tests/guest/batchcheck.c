/*
 * batchcheck: sys_batch's contract, case by case: order, results, stopping, refused
 * calls, bad arrays; prints each batch's return value and result slots.
 */
#include "batchtest.h"

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

#define set(i, ...)	batch_set(&calls[i], __VA_ARGS__)

/* "name: ret R results r0 r1 ..." with - for an untouched slot. */
static void
report_in(const char *name, int r, struct BatchCall *c, int n)
{
	cprintf("%s: ret %d results", name, r);
	batch_results(c, n);
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
	batch_set(&c[0], SYS_page_alloc, 0, VA(14), PUW, 0, 0);
	must(sys_page_map(0, (void *) ROARR, 0, (void *) ROARR, PTE_P | PTE_U), "map ROARR");
	r = sys_batch(c, 1, 0);
	report_in("rodesc", r, c, 1);
	cprintf("rodesc: mapped %d\n", mapped(VA(14)));

	/* an array running off the end of mapped memory: -E_FAULT, nothing runs */
	must(sys_page_alloc(0, (void *) EDGE, PUW), "alloc EDGE");
	c = (struct BatchCall *) (EDGE + PGSIZE - sizeof(struct BatchCall));
	batch_set(&c[0], SYS_page_alloc, 0, VA(15), PUW, 0, 0);
	r = sys_batch(c, 2, 0);
	report_in("edge", r, c, 1);
	cprintf("edge: mapped %d\n", mapped(VA(15)));
	r = sys_batch(c, 1, 0);
	report_in("edge-one", r, c, 1);
	cprintf("edge-one: mapped %d\n", mapped(VA(15)));

	/* a call that write-protects or unmaps the array: -E_FAULT, all ran */
	must(sys_page_alloc(0, (void *) SELF, PUW), "alloc SELF");
	c = (struct BatchCall *) SELF;
	batch_set(&c[0], SYS_page_alloc, 0, VA(16), PUW, 0, 0);
	batch_set(&c[1], SYS_page_map, 0, SELF, 0, SELF, PTE_P | PTE_U);
	batch_set(&c[2], SYS_page_alloc, 0, VA(17), PUW, 0, 0);
	r = sys_batch(c, 3, 0);
	report_in("selfprotect", r, c, 3);
	cprintf("selfprotect: mapped %d %d w %d\n", mapped(VA(16)), mapped(VA(17)),
		!!(uvpt[PGNUM(SELF)] & PTE_W));
	must(sys_page_alloc(0, (void *) SELF2, PUW), "alloc SELF2");
	c = (struct BatchCall *) SELF2;
	batch_set(&c[0], SYS_page_alloc, 0, VA(18), PUW, 0, 0);
	batch_set(&c[1], SYS_page_unmap, 0, SELF2, 0, 0, 0);
	batch_set(&c[2], SYS_page_alloc, 0, VA(19), PUW, 0, 0);
	r = sys_batch(c, 3, 0);
	cprintf("selfunmap: ret %d mapped %d %d array %d\n", r, mapped(VA(18)), mapped(VA(19)),
		mapped(SELF2));

	/* BATCH_MAX calls at once */
	for (i = 0; i < ROUNDUP(BATCH_MAX * sizeof(struct BatchCall), PGSIZE) / PGSIZE; i++)
		must(sys_page_alloc(0, (void *) (BIG + i * PGSIZE), PUW), "alloc BIG");
	c = (struct BatchCall *) BIG;
	for (i = 0; i < BATCH_MAX; i++)
		batch_set(&c[i], SYS_getenvid, 0, 0, 0, 0, 0);
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
