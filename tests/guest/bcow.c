/*
 * bcow: a batch whose descriptors sit on a copy-on-write page shared with a
 * child: the parent's results land in its own copy.
 */
#include "batchtest.h"

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
	cprintf("%s:", who);
	batch_results(c, n);
	cprintf("\n");
}

static void
set(int i, uint32_t num, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5)
{
	batch_set(&bpage.c[i], num, a1, a2, a3, a4, a5);
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
