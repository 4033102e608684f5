/*
 * lib/pgfault.c: the C side of user-level page fault handling (JOS lab 4,
 * part B).  Yours to write: set_pgfault_handler.
 */
#include <inc/lib.h>

/* The handler _pgfault_upcall (lib/pfentry.S) calls; 0 until one is set. */
void (*_pgfault_handler)(struct UTrapframe *utf);

/*
 * Make handler this env's page fault handler.
 *
 * Contract:
 *   - The first time (no handler yet): allocate the exception stack, one
 *     writable page just below UXSTACKTOP, and tell the kernel to send
 *     page faults to _pgfault_upcall (sys_env_set_pgfault_upcall); panic
 *     if either call fails.
 *   - Every time: remember handler in _pgfault_handler.
 */
void
set_pgfault_handler(void (*handler)(struct UTrapframe *utf))
{
	panic("set_pgfault_handler not implemented (lib/pgfault.c)");
}
