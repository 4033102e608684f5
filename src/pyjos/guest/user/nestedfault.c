// a page fault handler that faults again itself, on the exception stack
#include <inc/lib.h>

#define OUTER	((volatile int *) 0x10000000)
#define INNER	((volatile int *) 0x20000000)

static int nfaults;		/* handler invocations */
static uintptr_t inner_esp;	/* trap-time esp of the nested fault */

/*
 * Map a page at the faulting address.  While handling the fault at OUTER,
 * first read INNER, which is not mapped either: that fault arrives while
 * we run on the exception stack, and this handler resolves it too.
 */
static void
handler(struct UTrapframe *utf)
{
	void *va = (void *) utf->utf_fault_va;
	int r;

	nfaults++;
	if (ROUNDDOWN(va, PGSIZE) == (void *) OUTER) {
		if (*INNER != 0)
			panic("nestedfault: INNER is not a fresh page");
		*INNER = 7;
	} else if (ROUNDDOWN(va, PGSIZE) == (void *) INNER) {
		inner_esp = utf->utf_esp;
	} else {
		panic("nestedfault: unexpected fault at %08x, eip %08x",
		      va, utf->utf_eip);
	}
	r = sys_page_alloc(0, ROUNDDOWN(va, PGSIZE), PTE_P | PTE_U | PTE_W);
	if (r < 0)
		panic("nestedfault: sys_page_alloc: %e", r);
}

void
umain(int argc, char **argv)
{
	set_pgfault_handler(handler);
	*OUTER = 42;

	if (nfaults != 2)
		panic("nestedfault: %d faults, expected 2", nfaults);
	if (inner_esp < UXSTACKTOP - PGSIZE || inner_esp >= UXSTACKTOP)
		panic("nestedfault: inner fault esp %08x not on the exception stack",
		      inner_esp);
	if (*OUTER != 42 || *INNER != 7)
		panic("nestedfault: values lost (%d, %d)", *OUTER, *INNER);
	cprintf("nestedfault: OK\n");
}
