// fork shares a read-only page read-only, without copy-on-write
#include <inc/lib.h>

#define PAGE	((char *) 0x10000000)

/* Panic unless PAGE is a present, read-only, non-COW user mapping of a
 * frame that two environments share, holding the expected pattern. */
static void
check_readonly(const char *who)
{
	pte_t pte = uvpt[PGNUM(PAGE)];
	int i;

	if ((pte & (PTE_P | PTE_U | PTE_W | PTE_COW)) != (PTE_P | PTE_U))
		panic("cowreadonly: %s: pte %08x is not plain read-only", who, pte);
	if (pages[PGNUM(PTE_ADDR(pte))].pp_ref < 2)
		panic("cowreadonly: %s: the frame is not shared", who);
	for (i = 0; i < PGSIZE; i++)
		if (PAGE[i] != (char) (i * 7))
			panic("cowreadonly: %s: byte %d is wrong", who, i);
}

void
umain(int argc, char **argv)
{
	envid_t who;
	int i, r;

	/* A page filled while writable, then mapped read-only. */
	if ((r = sys_page_alloc(0, PAGE, PTE_P | PTE_U | PTE_W)) < 0)
		panic("cowreadonly: sys_page_alloc: %e", r);
	for (i = 0; i < PGSIZE; i++)
		PAGE[i] = i * 7;
	if ((r = sys_page_map(0, PAGE, 0, PAGE, PTE_P | PTE_U)) < 0)
		panic("cowreadonly: sys_page_map: %e", r);

	if ((who = fork()) < 0)
		panic("cowreadonly: fork: %e", who);
	if (who == 0) {
		/* Check while the parent, waiting for our message, still
		 * holds its mapping. */
		ipc_recv(&who, 0, 0);
		check_readonly("child");
		cprintf("cowreadonly: OK\n");
		ipc_send(who, 0, 0, 0);
		return;
	}
	check_readonly("parent");
	cprintf("cowreadonly: OK\n");
	ipc_send(who, 0, 0, 0);
	ipc_recv(&who, 0, 0);
}
