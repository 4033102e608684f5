/*
 * dszero: C: a null %ds across yields and preemption.
 */
#include "rawsys.h"

void
umain(int argc, char **argv)
{
	uint32_t ds = 0;
	int i;

	cprintf("C start\n");
	/* A null %ds across yields and preemption, touching memory only
	 * through %ss (the stack) while it is loaded. */
	for (i = 0; i < 4; i++)
		asm volatile("movw $0, %%ax; movw %%ax, %%ds;"
			     "movl %1, %%eax; int $0x30;"
			     "movl $200000, %%ecx; 1: loop 1b;"
			     "movl %%ds, %0;"
			     "movw $0x23, %%ax; movw %%ax, %%ds"
			     : "=d" (ds) : "i" (SYS_yield) : "eax", "ecx", "memory");
	cprintf("C ds %x\n", ds);
}
