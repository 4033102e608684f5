/*
 * noenv: sys_exofork until -E_NO_FREE_ENV, destroys every child, forks again.
 */
#include "rawsys.h"

void
umain(int argc, char **argv)
{
	static envid_t ids[NENV];
	int n = 0, r, i, bad = 0;

	while ((r = sys_exofork()) > 0)
		ids[n++] = r;
	if (r == 0)
		exit();	/* a child: never made runnable */
	R("noenv", r);
	R("children", n);
	for (i = 0; i < n; i++)
		if (sys_env_destroy(ids[i]) != 0)
			bad++;
	R("destroy_failures", bad);
	r = sys_exofork();	/* a freed slot is usable again */
	R("exofork_again", r > 0);
	R("destroy_again", sys_env_destroy(r));
	cprintf("noenv done\n");
}
