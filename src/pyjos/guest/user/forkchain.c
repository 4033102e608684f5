// each forked child forks again, 3 levels deep; every level keeps its own global
#include <inc/lib.h>

#define DEPTH	3

int level_mark = -1;

/* Yield until env who has exited. */
static void
wait_for(envid_t who)
{
	while (envs[ENVX(who)].env_id == who &&
	       envs[ENVX(who)].env_status != ENV_FREE)
		sys_yield();
}

/*
 * Environment number depth of the chain: write our mark, fork the next
 * level (below DEPTH), let it finish, and check that our mark survived
 * every write of the descendants.
 */
void
umain(int argc, char **argv)
{
	envid_t child = 0;
	int depth;

	for (depth = 0; depth < DEPTH; depth++) {
		level_mark = depth;
		if ((child = fork()) < 0)
			panic("forkchain: fork: %e", child);
		if (child != 0)
			break;
		/* The child starts with its parent's mark. */
		if (level_mark != depth)
			panic("forkchain: depth %d inherited %d", depth + 1,
			      level_mark);
	}
	if (child == 0)
		level_mark = DEPTH;
	else
		wait_for(child);
	sys_yield();
	if (level_mark != depth)
		panic("forkchain: depth %d sees %d", depth, level_mark);
	cprintf("forkchain: depth %d OK\n", depth);
}
