/*
 * kexhaust: sys_fork until -E_NO_MEM, then destroys every child.
 */
#include <inc/lib.h>

#define EXTRA	0x10000000	/* extra pages, one per page table */
#define NEXTRA	8

envid_t kids[NENV];  /* written by the parent only */

static int
alive(envid_t id)
{
	return envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE;
}

void
umain(int argc, char **argv)
{
	int n = 0, i, r, live = 0, kids_alive = 0;
	envid_t id;

	for (i = 0; i < NEXTRA; i++)
		if ((r = sys_page_alloc(0, (void *) (EXTRA + i * PTSIZE),
					PTE_P | PTE_U | PTE_W)) < 0)
			panic("sys_page_alloc: %e", r);
	for (;;) {
		id = fork_kernel();
		if (id == 0) {
			ipc_recv(0, 0, 0);  /* wait to be destroyed */
			panic("child woke up");
		}
		if (id < 0)
			break;
		kids[n++] = id;
	}
	for (i = 0; i < NENV; i++)
		live += envs[i].env_status != ENV_FREE;
	for (i = 0; i < n; i++)
		kids_alive += alive(kids[i]);
	cprintf("sys_fork failed after %d children: %e\n", n, id);
	cprintf("live envs %d, children alive %d\n", live, kids_alive);
	for (i = 0; i < n; i++)
		if (alive(kids[i]) && (r = sys_env_destroy(kids[i])) < 0)
			panic("sys_env_destroy: %e", r);
	cprintf("kexhaust: parent done\n");
}
