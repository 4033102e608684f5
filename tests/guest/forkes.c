/*
 * forkes: forks with a null %es; parent and child print theirs (with argv[1]
 * "yield", the parent yields, a frame save, before it prints and exits).
 */
#include "rawsys.h"

void
umain(int argc, char **argv)
{
	int yield = argc > 1 && !strcmp(argv[1], "yield");
	uint32_t es = 0;
	envid_t who;

	asm volatile("movw $0, %%ax; movw %%ax, %%es" ::: "eax");
	who = fork();
	asm volatile("movl %%es, %0" : "=r" (es));
	asm volatile("movw $0x23, %%ax; movw %%ax, %%es" ::: "eax");
	if (who != 0 && yield)
		sys_yield();
	cprintf("%s es %x\n", who == 0 ? "child" : "parent", es);
}
