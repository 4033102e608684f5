// cpu_kernread: yield a few times (so envs spread over the CPUs), then read
// kernel memory, which must fault on whatever CPU runs the env.
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	int i;

	for (i = 0; i < 4; i++)
		sys_yield();
	cprintf("I read %08x from location 0xf0100000!\n", *(volatile unsigned *) 0xf0100000);
}
