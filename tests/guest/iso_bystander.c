/* A bystander: yields many times and checks that its registers, selectors
 * and memory stay its own; prints one verdict line. */
#include "iso.h"

static volatile uint32_t pattern[1024];

void
umain(int argc, char **argv)
{
	int i, n = argc > 1 ? strtol(argv[1], 0, 0) : 50, bad = 0;
	uint16_t cs, ss, ds, es;

	for (i = 0; i < 1024; i++)
		pattern[i] = i * 2654435761u;
	for (i = 0; i < n; i++) {
		sys_yield();
		asm volatile("movw %%cs, %0; movw %%ss, %1; movw %%ds, %2; movw %%es, %3"
			     : "=r" (cs), "=r" (ss), "=r" (ds), "=r" (es));
		if (cs != GD_UT + 3 || ss != GD_UD + 3 || ds != GD_UD + 3 || es != GD_UD + 3)
			bad++;
		if (pattern[i % 1024] != (uint32_t) (i % 1024) * 2654435761u)
			bad++;
	}
	cprintf("bystander %s\n", bad ? "saw changes" : "ok");
}
