/* Item 6: a child woken by sys_env_set_status while blocked in ipc_recv
 * (still "receiving") sends to itself; it must keep running with its own
 * registers across many time slices. */
#include "iso.h"

static uint32_t
work(void)
{
	volatile uint32_t i, h = 1;

	for (i = 0; i < 20000; i++)
		h = h * 31 + i;
	return h;
}

void
umain(int argc, char **argv)
{
	envid_t child;
	uint32_t want = work();

	if ((child = fork()) == 0) {
		sys_ipc_recv((void *) UTOP);	/* woken by the parent below */
		R("self_send", sys_ipc_try_send(0, 7, (void *) UTOP, 0));
		R("child_work_ok", work() == want);
		return;
	}
	while (envs[ENVX(child)].env_status != ENV_NOT_RUNNABLE)
		sys_yield();
	R("wake", sys_env_set_status(child, ENV_RUNNABLE));
}
