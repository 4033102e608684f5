/*
 * prog: prints argc and each argv[i].
 */
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	int i;

	cprintf("argc=%d\n", argc);
	for (i = 0; i < argc; i++)
		cprintf("argv[%d]=%s\n", i, argv[i]);
}
