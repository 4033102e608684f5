/*
 * sleeper: stays alive, not receiving, until the env in slot 0 is gone: an env that
 * is alive but nobody's child.
 */
#include "rawsys.h"

void
umain(int argc, char **argv)
{
	/* Stay alive (not receiving) until the tester in slot 0 is gone. */
	while (envs[0].env_status != ENV_FREE)
		sys_yield();
	cprintf("sleeper done\n");
}
