/*
 * frames: prints frame, pp_ref, PTE_COW and PTE_W of a writable and a read-only
 * page before fork, in the child, after the child writes, and at the end.
 */
#include <inc/lib.h>

#define RW	((volatile int *) 0x10000000)	/* writable, filled before fork */
#define RO	((volatile int *) 0x10001000)	/* filled, then mapped read-only */

/* "who what frame F ref R cow C w W": the page at va as this env maps it. */
static void
show(const char *who, const char *what, const volatile void *va)
{
	pte_t pte = uvpt[PGNUM(va)];

	cprintf("%s %s frame %08x ref %d cow %d w %d\n", who, what, PTE_ADDR(pte),
		pages[PGNUM(PTE_ADDR(pte))].pp_ref, !!(pte & PTE_COW), !!(pte & PTE_W));
}

void
umain(int argc, char **argv)
{
	envid_t id;
	int r, i;

	if ((r = sys_page_alloc(0, (void *) RW, PTE_P | PTE_U | PTE_W)) < 0)
		panic("sys_page_alloc: %e", r);
	if ((r = sys_page_alloc(0, (void *) RO, PTE_P | PTE_U | PTE_W)) < 0)
		panic("sys_page_alloc: %e", r);
	for (i = 0; i < PGSIZE / 4; i++) {
		RW[i] = 0x1000 + i;
		RO[i] = 0x2000 + i;
	}
	if ((r = sys_page_map(0, (void *) RO, 0, (void *) RO, PTE_P | PTE_U)) < 0)
		panic("sys_page_map: %e", r);
	show("parent", "rw", RW);
	show("parent", "ro", RO);
	if ((id = fork()) < 0)
		panic("fork: %e", id);
	if (id == 0) {
		show("child", "rw", RW);
		show("child", "ro", RO);
		for (i = 0; i < PGSIZE / 4; i++)
			if (RW[i] != 0x1000 + i || RO[i] != 0x2000 + i)
				panic("child: word %d differs", i);
		cprintf("child contents OK\n");
		RW[7] = 77;
		show("child", "rw-written", RW);
		show("child", "ro-end", RO);
		cprintf("child sees %d\n", RW[7]);
		return;
	}
	while (envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE)
		sys_yield();
	show("parent", "rw-end", RW);
	show("parent", "ro-end", RO);
	cprintf("parent sees %d %d\n", RW[7], RO[7]);
}
