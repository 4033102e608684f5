// benchmark: N sys_page_map calls (argv[1], default 100000) into a child that never runs, each replacing the last
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	int i, r, n = argc > 1 ? strtol(argv[1], 0, 10) : 100000;
	envid_t child;
	char *src[2] = { (char *) UTEMP, (char *) UTEMP + PGSIZE };

	// As fork's duppage maps a page into its child: two frames of ours,
	// mapped in turn at one address of a child that is never made runnable.
	for (i = 0; i < 2; i++)
		if ((r = sys_page_alloc(0, src[i], PTE_P | PTE_U | PTE_W)) < 0)
			panic("sys_page_alloc: %e", r);
	if ((child = sys_exofork()) < 0)
		panic("sys_exofork: %e", child);
	if (child == 0)
		exit();  // never reached: the child never runs
	for (i = 0; i < n; i++)
		if ((r = sys_page_map(0, src[i & 1], child, UTEMP, PTE_P | PTE_U | PTE_COW)) < 0)
			panic("sys_page_map: %e", r);
	sys_env_destroy(child);
	cprintf("pagemaploop: %d maps\n", n);
}
