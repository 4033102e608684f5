// defines its own fork(): the program's definition must win over lib/fork.c's
#include <inc/lib.h>

/* This program's fork: makes no env, says so and returns a marker. */
envid_t
fork(void)
{
	cprintf("my own fork\n");
	return 0x1234;
}

void
umain(int argc, char **argv)
{
	/* sfork lives in lib/fork.c: naming it pulls that file into the link. */
	envid_t (*other)(void) = sfork;

	cprintf("fork returned %x; sfork is %s\n", fork(), other ? "linked" : "absent");
}
