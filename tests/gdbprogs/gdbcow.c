// for the gdb tests: after a fork, parent and child each see their own global
#include <inc/lib.h>

volatile int counter = 1;	/* .data: copy-on-write after the fork */
const char parent_fmt[] = "parent: counter %d\n";	/* .rodata: shared read-only */

/* The child, before it writes counter. */
__attribute__((noinline)) void
child_start(void)
{
	cprintf("child: counter %d\n", counter);
}

/* The child, after its write. */
__attribute__((noinline)) void
child_wrote(void)
{
	cprintf("child: wrote %d\n", counter);
}

void
umain(int argc, char **argv)
{
	envid_t who;

	if ((who = fork()) < 0)
		panic("fork: %e", who);
	if (who == 0) {
		child_start();
		counter = 2;
		child_wrote();
		return;
	}
	while (envs[ENVX(who)].env_id == who && envs[ENVX(who)].env_status != ENV_FREE)
		sys_yield();
	cprintf(parent_fmt, counter);
}
