/*
 * bsched: sys_yield and sys_env_set_status inside a batch take effect when the
 * batch returns, after the rest of it ran.
 */
#include "batchtest.h"


static const char rest_y[] = "parent: rest of the batch ran\n";
static const char rest_s[] = "child: rest of the batch ran\n";

static int
alive(envid_t id)
{
	return envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE;
}

void
umain(int argc, char **argv)
{
	envid_t id;
	int r;

	/* sys_yield in a batch: the rest of the batch runs first */
	if ((id = fork()) < 0)
		panic("fork: %e", id);
	if (id == 0) {
		ipc_recv(0, 0, 0);
		cprintf("child: ran\n");
		return;
	}
	while (!envs[ENVX(id)].env_ipc_recving)
		sys_yield();
	{
		struct BatchCall c[3] = {
			{ SYS_ipc_try_send, { id, 1, UTOP, 0 }, SENT },
			{ SYS_yield, { 0 }, SENT },
			{ SYS_cputs, { (uint32_t) rest_y, sizeof rest_y - 1 }, SENT },
		};
		r = sys_batch(c, 3, 0);
		cprintf("parent: after the batch: ret %d results %d %d %d\n", r,
			c[0].bc_result, c[1].bc_result, c[2].bc_result);
	}
	while (alive(id))
		sys_yield();

	/* sys_env_set_status(0, NOT_RUNNABLE) in a batch: the same */
	if ((id = fork()) < 0)
		panic("fork: %e", id);
	if (id == 0) {
		struct BatchCall c[3] = {
			{ SYS_env_set_status, { 0, ENV_NOT_RUNNABLE }, SENT },
			{ SYS_cputs, { (uint32_t) rest_s, sizeof rest_s - 1 }, SENT },
			{ SYS_getenvid, { 0 }, SENT },
		};
		r = sys_batch(c, 3, 0);
		cprintf("child: woken: ret %d results %d %d %d\n", r,
			c[0].bc_result, c[1].bc_result, c[2].bc_result == sys_getenvid());
		return;
	}
	while (alive(id) && envs[ENVX(id)].env_status != ENV_NOT_RUNNABLE)
		sys_yield();
	cprintf("parent: child not runnable: %d\n", envs[ENVX(id)].env_status == ENV_NOT_RUNNABLE);
	if ((r = sys_env_set_status(id, ENV_RUNNABLE)) < 0)
		panic("sys_env_set_status: %e", r);
	while (alive(id))
		sys_yield();
	cprintf("parent: done\n");
}
