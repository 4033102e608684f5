// register the upcall without an exception stack, then fault
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	sys_env_set_pgfault_upcall(0, (void *) _pgfault_upcall);
	*(volatile int *) 0 = 0;
}
