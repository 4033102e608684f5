/* Item 8: int3 in one env; with --on-breakpoint destroy (or continue) the
 * other envs must run on. */
#include "iso.h"

void
umain(int argc, char **argv)
{
	asm volatile("int3");
	cprintf("after int3\n");
}
