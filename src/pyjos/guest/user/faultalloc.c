// a page fault handler that maps pages on demand, incl. a nested fault
#include <inc/lib.h>

/*
 * Map a page at the faulting address and write a message there.  The
 * message at 0xcafebffe crosses into the next page, so writing it faults
 * again inside this handler, on the exception stack.
 */
static void
handler(struct UTrapframe *utf)
{
	char *addr = (char *) utf->utf_fault_va;
	int r;

	cprintf("fault %x\n", addr);
	r = sys_page_alloc(0, ROUNDDOWN(addr, PGSIZE), PTE_P | PTE_U | PTE_W);
	if (r < 0)
		panic("allocating at %x in page fault handler: %e", addr, r);
	snprintf(addr, 100, "this string was faulted in at %x", addr);
}

void
umain(int argc, char **argv)
{
	set_pgfault_handler(handler);
	cprintf("%s\n", (char *) 0xDeadBeef);
	cprintf("%s\n", (char *) 0xCafeBffe);
}
