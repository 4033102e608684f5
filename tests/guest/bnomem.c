/*
 * bnomem: memory exhausted before a batch returns: the copy-on-write results
 * page cannot be copied (-E_NO_MEM) after the calls ran.
 */
#include "batchtest.h"

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
