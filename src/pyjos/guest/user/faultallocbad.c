// pass an unmapped buffer to sys_cputs; the kernel must not upcall
#include <inc/lib.h>

/* Would map the page; it must not run, since the kernel does not fault. */
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
	sys_cputs((char *) 0xDEADBEEF, 4);
}
