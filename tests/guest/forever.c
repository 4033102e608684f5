/*
 * forever: prints one line, then loops for ever (for --max-insns).
 */
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	cprintf("looping for ever\n");
	for (;;)
		;
}
