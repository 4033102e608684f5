/*
 * esreport: prints its own %es and %ds.
 */
#include "rawsys.h"

void
umain(int argc, char **argv)
{
	uint32_t es = 0, ds = 0;

	asm volatile("movl %%es, %0; movl %%ds, %1" : "=r" (es), "=r" (ds));
	cprintf("B es %x ds %x\n", es, ds);
}
