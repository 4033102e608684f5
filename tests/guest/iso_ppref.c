/* Item 1: 65,537 aliases of one page must not wrap its 16-bit pp_ref. */
#include "iso.h"

#define PAGE	0x10000000
#define ALIASES	0x20000000
#define TRIES	65537

static struct BatchCall calls[BATCH_MAX];

void
umain(int argc, char **argv)
{
	int i, n, ok = 0, first_err = 0, done = 0, perm;
	envid_t child;

	if ((child = fork()) == 0) {
		ipc_recv(0, (void *) 0x30000000, &perm);
		R("child_got_perm", perm);
		return;
	}
	sys_page_alloc(0, (void *) PAGE, PUW);
	*(volatile int *) PAGE = 0x5eed;
	while (done < TRIES) {
		n = MIN(TRIES - done, BATCH_MAX);
		for (i = 0; i < n; i++) {
			calls[i].bc_num = SYS_page_map;
			calls[i].bc_args[0] = 0;
			calls[i].bc_args[1] = PAGE;
			calls[i].bc_args[2] = 0;
			calls[i].bc_args[3] = ALIASES + (done + i) * PGSIZE;
			calls[i].bc_args[4] = PUW;
		}
		sys_batch(calls, n, BATCH_CONTINUE);
		for (i = 0; i < n; i++) {
			if (calls[i].bc_result == 0)
				ok++;
			else if (!first_err)
				first_err = calls[i].bc_result;
		}
		done += n;
	}
	R("aliases", ok);
	R("first_error", first_err);
	/* Every path that adds a reference fails the same way. */
	R("sys_fork", sys_fork());
	while (envs[ENVX(child)].env_status != ENV_NOT_RUNNABLE)
		sys_yield();
	R("ipc_page", sys_ipc_try_send(child, 1, (void *) PAGE, PUW));
	R("ipc_no_page", sys_ipc_try_send(child, 2, (void *) UTOP, 0));
	for (i = 0; i < ok; i++)
		sys_page_unmap(0, (void *) (ALIASES + i * PGSIZE));
	R("still_mine", *(volatile int *) PAGE == 0x5eed);
}
