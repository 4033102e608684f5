// 20 forked children yield and count; an env must never run twice at once
#include <inc/lib.h>

#define NCHILD		20
#define NROUNDS		10
#define NINCR		10000

volatile int counter;

void
umain(int argc, char **argv)
{
	envid_t parent = sys_getenvid();
	int i, j;

	for (i = 0; i < NCHILD; i++)
		if (fork() == 0)
			break;
	if (i == NCHILD) {
		/* The parent: let the children go, then exit. */
		sys_yield();
		return;
	}

	/* Wait until the parent has finished forking and exited. */
	while (envs[ENVX(parent)].env_status != ENV_FREE)
		asm volatile("pause");

	/* Our private counter must see exactly our own increments: if this
	 * env ran on two CPUs at once, increments would be lost. */
	for (i = 0; i < NROUNDS; i++) {
		sys_yield();
		for (j = 0; j < NINCR; j++)
			counter++;
	}
	if (counter != NROUNDS * NINCR)
		panic("ran on two CPUs at once (counter is %d)", counter);

	cprintf("[%08x] stresssched on CPU %d\n", thisenv->env_id,
		thisenv->env_cpunum);
}
