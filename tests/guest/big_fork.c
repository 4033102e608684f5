// big memory: map N pages (argv[1]) holding their index, fork with strategy argv[2]
// (dumb, cow, batch, kernel, odf); the child checks every page and rewrites every
// argv[3]-th one (default 1: all), the parent waits for it to exit and checks
// that none of its pages changed
#include <inc/lib.h>

#define BASE 0x10000000
#define PAGE(i) ((volatile uint32_t *) (BASE + (i) * PGSIZE))

static envid_t (*by_name(const char *name))(void)
{
	static const struct { const char *name; envid_t (*fn)(void); } table[] = {
		{ "dumb", fork_dumb }, { "cow", fork_cow }, { "batch", fork_batch },
		{ "kernel", fork_kernel }, { "odf", fork_odf },
	};
	unsigned i;

	for (i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(name, table[i].name) == 0)
			return table[i].fn;
	panic("big_fork: unknown strategy %s", name);
}

/* Page i holds i ^ mask for every stride-th i; return the first that does not, or -1. */
static int
check(int npages, int stride, uint32_t mask)
{
	int i;

	for (i = 0; i < npages; i += stride)
		if (PAGE(i)[0] != ((uint32_t) i ^ mask) || PAGE(i)[1023] != ((uint32_t) i ^ mask))
			return i;
	return -1;
}

static void
fill(int npages, int stride, uint32_t mask)
{
	int i;

	for (i = 0; i < npages; i += stride)
		PAGE(i)[0] = PAGE(i)[1023] = (uint32_t) i ^ mask;
}

void
umain(int argc, char **argv)
{
	int npages = strtol(argv[1], 0, 10);
	envid_t (*forker)(void) = by_name(argv[2]);
	int stride = argc > 3 ? strtol(argv[3], 0, 10) : 1;
	int i, r, bad;
	envid_t id;

	for (i = 0; i < npages; i++)
		if ((r = sys_page_alloc(0, (void *) PAGE(i), PTE_P | PTE_U | PTE_W)) < 0)
			panic("big_fork: sys_page_alloc page %d: %e", i, r);
	fill(npages, 1, 0);
	if ((id = forker()) < 0)
		panic("big_fork: %s: %e", argv[2], id);
	if (id == 0) {
		if ((bad = check(npages, 1, 0)) >= 0)
			panic("big_fork: child sees page %d changed", bad);
		fill(npages, stride, 0xc0000000);
		if ((bad = check(npages, stride, 0xc0000000)) >= 0)
			panic("big_fork: child lost its write to page %d", bad);
		cprintf("big_fork: child ok\n");
		return;
	}
	while (envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE)
		sys_yield();
	if ((bad = check(npages, 1, 0)) >= 0)
		panic("big_fork: parent's page %d changed by the child", bad);
	cprintf("big_fork: parent ok, %d pages (%s)\n", npages, argv[2]);
}
