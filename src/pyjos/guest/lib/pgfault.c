/* User-level page fault handling: the C side of the upcall mechanism. */
#include <inc/lib.h>

/* The C handler that _pgfault_upcall (pfentry.S) calls; 0 until set. */
void (*_pgfault_handler)(struct UTrapframe *utf);

/*
 * Make handler this environment's page fault handler.  On the first call,
 * allocate the exception stack page below UXSTACKTOP and register
 * _pgfault_upcall with the kernel; panics if either fails.
 */
void
set_pgfault_handler(void (*handler)(struct UTrapframe *utf))
{
	int r;

	if (_pgfault_handler == NULL) {
		r = sys_page_alloc(0, (void *) (UXSTACKTOP - PGSIZE),
				   PTE_P | PTE_U | PTE_W);
		if (r < 0)
			panic("set_pgfault_handler: allocating exception stack: %e", r);
		r = sys_env_set_pgfault_upcall(0, _pgfault_upcall);
		if (r < 0)
			panic("set_pgfault_handler: setting upcall: %e", r);
	}
	_pgfault_handler = handler;
}
