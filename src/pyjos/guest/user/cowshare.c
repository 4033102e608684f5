// a forked child shares a page's frame copy-on-write until it writes it
#include <inc/lib.h>

#define PAGE	((char *) 0x10000000)

/* The reference count of the frame that pte maps. */
static int
frame_refs(pte_t pte)
{
	return pages[PGNUM(PTE_ADDR(pte))].pp_ref;
}

/* Yield until env who has exited. */
static void
wait_for(envid_t who)
{
	while (envs[ENVX(who)].env_id == who &&
	       envs[ENVX(who)].env_status != ENV_FREE)
		sys_yield();
}

/* Panic unless the page still holds the pattern that fill wrote, except
 * that byte 0 holds first. */
static void
check_contents(char first)
{
	int i;

	if (PAGE[0] != first)
		panic("cowshare: byte 0 is %d, expected %d", PAGE[0], first);
	for (i = 1; i < PGSIZE; i++)
		if (PAGE[i] != (char) i)
			panic("cowshare: byte %d changed", i);
}

/* The child: the page must be a copy-on-write mapping of the parent's
 * frame until the child writes it, and a private writable copy after. */
static void
child(void)
{
	pte_t before = uvpt[PGNUM(PAGE)], after;

	cprintf("cowshare: ref before write %d\n", frame_refs(before));
	if ((before & (PTE_W | PTE_COW)) != PTE_COW)
		panic("cowshare: pte %08x before the write is not copy-on-write",
		      before);
	if (frame_refs(before) != 2)
		panic("cowshare: the frame is not shared by exactly two envs");

	PAGE[0] = 'c';
	after = uvpt[PGNUM(PAGE)];
	if ((after & (PTE_W | PTE_COW)) != PTE_W)
		panic("cowshare: pte %08x after the write is not plain writable",
		      after);
	if (PTE_ADDR(after) == PTE_ADDR(before))
		panic("cowshare: the write did not copy the frame");
	if (frame_refs(before) != 1 || frame_refs(after) != 1)
		panic("cowshare: frames not private after the write");
	check_contents('c');
	cprintf("cowshare: OK\n");
}

void
umain(int argc, char **argv)
{
	envid_t who;
	int i, r;

	if ((r = sys_page_alloc(0, PAGE, PTE_P | PTE_U | PTE_W)) < 0)
		panic("cowshare: sys_page_alloc: %e", r);
	for (i = 0; i < PGSIZE; i++)
		PAGE[i] = i;

	if ((who = fork()) < 0)
		panic("cowshare: fork: %e", who);
	if (who == 0) {
		child();
		return;
	}

	/* The parent keeps the original contents, whatever the child did. */
	wait_for(who);
	check_contents(0);
	PAGE[0] = 'p';
	check_contents('p');
	cprintf("cowshare: parent OK\n");
}
