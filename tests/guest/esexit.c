/*
 * esexit: loads a null %es and exits with no other trap in between.
 */
#include "rawsys.h"

void
umain(int argc, char **argv)
{
	/* Load a null %es and exit, with no other trap in between. */
	asm volatile("movw $0, %%ax; movw %%ax, %%es;"
		     "movl %0, %%eax; xorl %%edx, %%edx; int $0x30"
		     :: "i" (SYS_env_destroy) : "eax", "edx", "memory");
}
