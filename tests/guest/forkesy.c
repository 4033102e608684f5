/*
 * forkesy: forkes, but the parent yields before it prints.
 */
#include "rawsys.h"

void
umain(int argc, char **argv)
{
	uint32_t es = 0;
	envid_t who;

	asm volatile("movw $0, %%ax; movw %%ax, %%es" ::: "eax");
	who = fork();
	asm volatile("movl %%es, %0" : "=r" (es));
	asm volatile("movw $0x23, %%ax; movw %%ax, %%es" ::: "eax");
	if (who != 0)
		sys_yield();
	cprintf("%s es %x\n", who == 0 ? "child" : "parent", es);
}
