/*
 * spinforever: spin's scenario without the kill: a forked child that never yields.
 */
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	if (fork() == 0) {
		cprintf("child spinning\n");
		for (;;)
			;
	}
	cprintf("parent done\n");
}
