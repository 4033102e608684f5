/*
 * argvzero: prints argc, each argv[i] and binaryname.
 */
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	int i;

	cprintf("argc %d\n", argc);
	for (i = 0; i < argc; i++)
		cprintf("argv[%d] = %s\n", i, argv[i]);
	cprintf("binaryname %s\n", binaryname);
}
