/* Item 5: x87, SSE and fs/gs must not leak between envs.  "set" loads
 * distinctive values, yields, and reports that it still has them; "look"
 * (started next) reports what it finds in its own fresh registers. */
#include "iso.h"

static void
report(const char *who)
{
	uint32_t fs, gs, xmm0 = 0;
	uint16_t sw;

	asm volatile("movl %%fs, %0; movl %%gs, %1" : "=r" (fs), "=r" (gs));
	asm volatile("fnstsw %0" : "=m" (sw));
	asm volatile("movd %%xmm0, %0" : "=r" (xmm0));
	cprintf("%s fs %x gs %x fpu_top %d xmm0 %x\n", who, fs & 0xffff, gs & 0xffff,
		(sw >> 11) & 7, xmm0);
}

static void
set(void)
{
	static const double pi = 3.25;
	static const uint32_t words[4] = { 0x5eedf00d, 1, 2, 3 };
	int i;

	asm volatile("movw %w0, %%fs; movw %w0, %%gs" :: "r" (0));
	asm volatile("fninit; fldl %0; fldl %0" :: "m" (pi));
	asm volatile("movups %0, %%xmm0" :: "m" (words));
	for (i = 0; i < 20; i++)
		sys_yield();
	report("set");
}

static void
look(void)
{
	static const uint32_t words[4] = { 0x10c, 0, 0, 0 };

	sys_yield();	/* the setter runs first */
	report("look");
	asm volatile("fninit; fld1; movups %0, %%xmm0" :: "m" (words));
	sys_yield();
	report("look again");
}

void
umain(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "set") == 0)
		set();
	else
		look();
}
