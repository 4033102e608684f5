// benchmark: map N extra pages (argv[1]), fork F times (argv[2]) with strategy argv[3] (cow, sfork); each child exits at once
#include <inc/lib.h>

#define BENCH_BASE 0x10000000

/* Map npages writable pages at BENCH_BASE and write to each one. */
static void
map_pages(int npages)
{
	int i, r;

	for (i = 0; i < npages; i++) {
		char *va = (char *) (BENCH_BASE + i * PGSIZE);
		if ((r = sys_page_alloc(0, va, PTE_P | PTE_U | PTE_W)) < 0)
			panic("forkbench: sys_page_alloc: %e", r);
		*va = (char) i;
	}
}

/* Yield until env id is gone. */
static void
wait_exit(envid_t id)
{
	while (envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE)
		sys_yield();
}

void
umain(int argc, char **argv)
{
	int npages = argc > 1 ? strtol(argv[1], 0, 10) : 0;
	int nforks = argc > 2 ? strtol(argv[2], 0, 10) : 1;
	const char *strategy = argc > 3 ? argv[3] : "cow";
	envid_t (*forker)(void) = fork;
	int i;
	envid_t id;

	if (strcmp(strategy, "sfork") == 0)
		forker = sfork;
	else if (strcmp(strategy, "cow") != 0)
		panic("forkbench: unknown strategy %s", strategy);
	map_pages(npages);
	for (i = 0; i < nforks; i++) {
		if ((id = forker()) < 0)
			panic("forkbench: %s: %e", strategy, id);
		if (id == 0)
			exit();
		else
			wait_exit(id);
	}
	cprintf("forkbench: %d pages, %d forks (%s)\n", npages, nforks, strategy);
}
