/*
 * bt: enters the monitor (int3) with a wild %ebp that argv[1] picks (kernel,
 * loop, edge, or unmapped).
 */
#include <inc/lib.h>

static uint32_t loop[8];

void
umain(int argc, char **argv)
{
	uint32_t ebp;
	const char *what = argc > 1 ? argv[1] : "";

	if (!strcmp(what, "kernel"))
		ebp = 0xf0000000;
	else if (!strcmp(what, "loop")) {
		loop[0] = (uint32_t) loop;	/* a frame that points to itself */
		ebp = (uint32_t) loop;
	} else if (!strcmp(what, "edge"))
		ebp = USTACKTOP - 8;	/* the frame's words run off the stack */
	else
		ebp = 0x50000000;	/* unmapped */
	asm volatile("movl %%ebp, %%esi; movl %0, %%ebp; int3; movl %%esi, %%ebp"
		     :: "r" (ebp) : "esi", "memory");
	cprintf("back from the monitor\n");
}
