/*
 * bcount: the same three page allocations as plain system calls or as one batch
 * (argv[1] "none" or "batch"), for the counters.
 */
#include <inc/lib.h>
#include <inc/batch.h>

struct BatchCall calls[2];

void
umain(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "none";
	int i, r;

	for (i = 0; i < 3; i++) {
		uint32_t va = 0x10000000 + i * PGSIZE;
		if (strcmp(mode, "batch") == 0) {
			calls[0].bc_num = SYS_page_alloc;
			calls[0].bc_args[0] = 0;
			calls[0].bc_args[1] = va;
			calls[0].bc_args[2] = PTE_P | PTE_U | PTE_W;
			calls[1].bc_num = SYS_getenvid;
			if ((r = sys_batch(calls, 2, 0)) != 2)
				panic("sys_batch: %d", r);
		} else if (strcmp(mode, "alone") == 0) {
			if ((r = sys_page_alloc(0, (void *) va, PTE_P | PTE_U | PTE_W)) < 0)
				panic("sys_page_alloc: %e", r);
			sys_getenvid();
		}
	}
	cprintf("bcount: done\n");
}
