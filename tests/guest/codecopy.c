/*
 * codecopy: code translated on any CPU must not outlive a kernel copy into
 * its frame.  The parent runs code at V (frame F) on CPUs 0 and 1, unmaps V
 * (F goes back to the head of the free list), maps at V, copy-on-write, a
 * page holding other code, and writes to it: under --cow-faults kernel the
 * kernel copies that page into F.  Run on both CPUs again, V must run the
 * new code.  Two children yield meanwhile, so the parent moves between the
 * CPUs and the other CPU has another directory loaded at the copy.
 */
#include <inc/lib.h>

#define V ((uint8_t *) 0x10000000)
#define SRC ((uint8_t *) 0x10002000)
#define PUW (PTE_P | PTE_U | PTE_W)

static void
put_code(uint8_t *page, int value)
{
	page[0] = 0xb8;		/* mov $value, %eax */
	memcpy(page + 1, &value, sizeof(value));
	page[5] = 0xc3;		/* ret */
}

/* Call V until it ran on CPUs 0 and 1; how many calls did not return want. */
static int
run_on_both(int want)
{
	int seen = 0, wrong = 0, i, cpu, got;

	for (i = 0; i < 100000 && seen != 3; i++) {
		cpu = thisenv->env_cpunum;
		got = ((int (*)(void)) V)();
		if (got != want)
			wrong++;
		if (cpu == thisenv->env_cpunum)
			seen |= 1 << cpu;
		sys_yield();
	}
	if (seen != 3)
		panic("codecopy: V ran on CPUs %x only", seen);
	return wrong;
}

static void
check(int r, const char *what)
{
	if (r < 0)
		panic("codecopy: %s: %e", what, r);
}

void
umain(int argc, char **argv)
{
	envid_t kids[2];
	uint32_t frame;
	int i, wrong;

	for (i = 0; i < 2; i++)
		if ((kids[i] = fork()) == 0)
			for (;;)
				sys_yield();
	check(sys_page_alloc(0, V, PUW), "alloc V");
	put_code(V, 1);
	frame = uvpt[PGNUM(V)] >> PGSHIFT;
	wrong = run_on_both(1);
	check(sys_page_alloc(0, SRC, PUW), "alloc SRC");
	put_code(SRC, 2);
	check(sys_page_unmap(0, V), "unmap V");
	check(sys_page_map(0, SRC, 0, V, PTE_P | PTE_U | PTE_COW), "map SRC at V");
	V[PGSIZE - 1] = 0;	/* the kernel copies SRC's frame for V */
	if (uvpt[PGNUM(V)] >> PGSHIFT != frame)
		panic("codecopy: the copy did not land in V's old frame");
	wrong += run_on_both(2);
	cprintf("codecopy: %d stale calls\n", wrong);
	for (i = 0; i < 2; i++)
		sys_env_destroy(kids[i]);
}
