/*
 * eszero: A: a null %es and DF set across yields and preemption.
 */
#include "rawsys.h"

void
umain(int argc, char **argv)
{
	uint16_t es;
	int i;
	volatile int j;

	cprintf("A start\n");
	/* A null %es and the direction flag set: both are ours alone. */
	asm volatile("movw $0, %%ax; movw %%ax, %%es; std" ::: "eax", "cc");
	for (i = 0; i < 6; i++) {
		sys_yield();
		for (j = 0; j < 30000; j++)	/* long enough to be preempted */
			;
	}
	asm volatile("movw %%es, %0" : "=r" (es));
	asm volatile("pushfl; popl %0" : "=r" (i));
	asm volatile("movw $0x23, %%ax; movw %%ax, %%es; cld" ::: "eax", "cc");
	cprintf("A es %x df %d\n", es, (i >> 10) & 1);
}
