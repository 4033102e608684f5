// fork by eagerly copying every page, then take turns printing
#include <inc/lib.h>

static envid_t dumbfork(void);

void
umain(int argc, char **argv)
{
	envid_t who = dumbfork();
	int i;

	for (i = 0; i < (who ? 10 : 20); i++) {
		cprintf("%d: I am the %s!\n", i, who ? "parent" : "child");
		sys_yield();
	}
}

/* Give dstenv a fresh page at addr holding a copy of our page at addr. */
static void
duppage(envid_t dstenv, void *addr)
{
	int r;

	if ((r = sys_page_alloc(dstenv, addr, PTE_P | PTE_U | PTE_W)) < 0)
		panic("sys_page_alloc: %e", r);
	if ((r = sys_page_map(dstenv, addr, 0, UTEMP, PTE_P | PTE_U | PTE_W)) < 0)
		panic("sys_page_map: %e", r);
	memmove(UTEMP, addr, PGSIZE);
	if ((r = sys_page_unmap(0, UTEMP)) < 0)
		panic("sys_page_unmap: %e", r);
}

/*
 * Create a child with a copy of the program image and of our stack page.
 * Returns the child's id in the parent and 0 in the child; panics on error.
 */
static envid_t
dumbfork(void)
{
	extern unsigned char end[];
	envid_t envid;
	uint8_t *addr;
	int r;

	envid = sys_exofork();
	if (envid < 0)
		panic("sys_exofork: %e", envid);
	if (envid == 0) {
		/* The child: our thisenv still points at the parent's Env. */
		thisenv = &envs[ENVX(sys_getenvid())];
		return 0;
	}

	for (addr = (uint8_t *) UTEXT; addr < end; addr += PGSIZE)
		duppage(envid, addr);
	/* The stack page we are running on (addr lives on it). */
	duppage(envid, ROUNDDOWN(&addr, PGSIZE));

	if ((r = sys_env_set_status(envid, ENV_RUNNABLE)) < 0)
		panic("sys_env_set_status: %e", r);
	return envid;
}
