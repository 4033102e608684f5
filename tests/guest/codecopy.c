/*
 * codecopy: code translated on any CPU must not outlive a kernel copy into
 * its frame.  The parent runs code at V (frame F) on two CPUs, unmaps V
 * (F goes back to the head of the free list), maps at V, copy-on-write, a
 * page holding other code, and writes to it: under --cow-faults kernel the
 * kernel copies that page into F.  Run on both CPUs again, V must run the
 * new code.  Two children yield meanwhile, so the parent moves between the
 * CPUs and the other CPU has another directory loaded at the copy.
 */
#include "codecalls.h"

#define SRC ((uint8_t *) 0x10002000)

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
		panic("the copy did not land in V's old frame");
	wrong += run_on_both(2);
	cprintf("codecopy: %d stale calls\n", wrong);
	for (i = 0; i < 2; i++)
		sys_env_destroy(kids[i]);
}
