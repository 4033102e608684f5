// a page fault handler that reports the fault and destroys its env
#include <inc/lib.h>

/* Report the fault, then end this environment. */
static void
handler(struct UTrapframe *utf)
{
	cprintf("i faulted at va %x, err %x\n", utf->utf_fault_va,
		utf->utf_err & 7);
	sys_env_destroy(sys_getenvid());
}

void
umain(int argc, char **argv)
{
	set_pgfault_handler(handler);
	*(volatile int *) 0xDeadBeef = 0;
}
