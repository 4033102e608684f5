// benchmark: map N extra pages (argv[1]), fork F times (argv[2]) with strategy argv[3] (dumb, cow, batch, kernel, odf, sfork); each child exits at once
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

/* The fork function called name. */
static envid_t (*by_name(const char *name))(void)
{
	static const struct { const char *name; envid_t (*fn)(void); } table[] = {
		{ "dumb", fork_dumb }, { "cow", fork_cow }, { "batch", fork_batch },
		{ "kernel", fork_kernel }, { "odf", fork_odf }, { "sfork", sfork },
	};
	unsigned i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(name, table[i].name) == 0)
			return table[i].fn;
	panic("forkbench: unknown strategy %s", name);
}

void
umain(int argc, char **argv)
{
	int npages = argc > 1 ? strtol(argv[1], 0, 10) : 0;
	int nforks = argc > 2 ? strtol(argv[2], 0, 10) : 1;
	const char *strategy = argc > 3 ? argv[3] : "cow";
	envid_t (*forker)(void) = by_name(strategy);
	int i;
	envid_t id;

	map_pages(npages);
	for (i = 0; i < nforks; i++) {
		if ((id = forker()) < 0)
			panic("forkbench: %s: %e", strategy, id);
		if (id == 0)
			exit();  /* the parent does not wait: waiting is not forking */
	}
	cprintf("forkbench: %d pages, %d forks (%s), %d pages copied at fork time\n",
		npages, nforks, strategy, fork_eager_copies);
}
