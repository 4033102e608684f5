// benchmark: call sys_getenvid N times (argv[1], default 100000)
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	int i, n = argc > 1 ? strtol(argv[1], 0, 10) : 100000;

	for (i = 0; i < n; i++)
		sys_getenvid();
	cprintf("syscallloop: %d calls\n", n);
}
