// benchmark: take N user-level page faults (argv[1]), each resolved by sys_page_alloc in the handler
#include <inc/lib.h>

#define FAULT_BASE 0x10000000

/* Map a zeroed page where the fault happened. */
static void
handler(struct UTrapframe *utf)
{
	int r;
	void *va = ROUNDDOWN((void *) utf->utf_fault_va, PGSIZE);

	if ((r = sys_page_alloc(0, va, PTE_P | PTE_U | PTE_W)) < 0)
		panic("faultloop: sys_page_alloc: %e", r);
}

void
umain(int argc, char **argv)
{
	int n = argc > 1 ? strtol(argv[1], 0, 10) : 1000;
	int i;

	set_pgfault_handler(handler);
	for (i = 0; i < n; i++)
		*(volatile int *) (FAULT_BASE + i * PGSIZE) = i;
	cprintf("faultloop: %d faults\n", n);
}
