// fork a child that spins for ever; the parent must preempt and kill it
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	envid_t env;
	int i;

	cprintf("I am the parent.  Forking the child...\n");
	if ((env = fork()) == 0) {
		cprintf("I am the child.  Spinning...\n");
		for (;;)
			;
	}

	cprintf("I am the parent.  Running the child...\n");
	for (i = 0; i < 8; i++)
		sys_yield();

	cprintf("I am the parent.  Killing the child...\n");
	sys_env_destroy(env);
}
