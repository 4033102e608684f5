/* Item 5: a forked child starts with its parent's x87 and SSE registers,
 * and each keeps them across the other's use of the FPU. */
#include "iso.h"

static void
report(const char *who)
{
	uint32_t xmm0 = 0;
	uint16_t sw;

	asm volatile("fnstsw %0" : "=m" (sw));
	asm volatile("movd %%xmm0, %0" : "=r" (xmm0));
	cprintf("%s fpu_top %d xmm0 %x\n", who, (sw >> 11) & 7, xmm0);
}

void
umain(int argc, char **argv)
{
	static const double pi = 3.25;
	static const uint32_t words[4] = { 0x5eedf00d, 1, 2, 3 };
	envid_t child;

	asm volatile("fninit; fldl %0; fldl %0" :: "m" (pi));
	asm volatile("movups %0, %%xmm0" :: "m" (words));
	if ((child = fork()) < 0)
		panic("fork: %e", child);
	sys_yield();
	report(child == 0 ? "child" : "parent");
}
