// for the gdb tests: runs until it is stopped (time slices keep ending)
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	cprintf("looping for ever\n");
	for (;;)
		;
}
