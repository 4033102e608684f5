/*
 * Shared by the tests of translated code that changes under the CPUs
 * (codecopy.c, xmodify.c): code written into the page at V at run time,
 * and calls of it until two CPUs ran it (with two CPUs: both).
 */
#include <inc/lib.h>

#define V ((uint8_t *) 0x10000000)
#define PUW (PTE_P | PTE_U | PTE_W)

/* At page: mov $value, %eax; ret */
static void
put_code(uint8_t *page, int value)
{
	page[0] = 0xb8;
	memcpy(page + 1, &value, sizeof(value));
	page[5] = 0xc3;
}

/* How many bits of mask are set (no libgcc here for __builtin_popcount). */
static int
bits(int mask)
{
	int n = 0;

	for (; mask; mask &= mask - 1)
		n++;
	return n;
}

/* Call V until it ran on two CPUs; how many calls did not return want. */
static int
run_on_both(int want)
{
	int seen = 0, wrong = 0, i, cpu, got;

	for (i = 0; i < 100000 && bits(seen) < 2; i++) {
		cpu = thisenv->env_cpunum;
		got = ((int (*)(void)) V)();
		if (got != want)
			wrong++;
		if (cpu == thisenv->env_cpunum)
			seen |= 1 << cpu;
		sys_yield();
	}
	if (bits(seen) < 2)
		panic("V ran on CPUs %x only", seen);
	return wrong;
}

static void
check(int r, const char *what)
{
	if (r < 0)
		panic("%s: %e", what, r);
}
