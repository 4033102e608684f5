// pingpong over sfork: the counter is a shared global, thisenv stays private
#include <inc/lib.h>

/* Shared between parent and child by sfork. */
uint32_t val;

void
umain(int argc, char **argv)
{
	envid_t who;

	if ((who = sfork()) != 0) {
		cprintf("i am %08x; thisenv is %p\n", sys_getenvid(), thisenv);
		/* The parent serves first. */
		cprintf("send 0 from %x to %x\n", sys_getenvid(), who);
		ipc_send(who, 0, 0, 0);
	}

	for (;;) {
		ipc_recv(&who, 0, 0);
		cprintf("%x got %d from %x (thisenv is %p %x)\n",
			sys_getenvid(), val, who, thisenv, thisenv->env_id);
		if (val == 10)
			return;
		++val;
		ipc_send(who, 0, 0, 0);
		if (val == 10)
			return;
	}
}
