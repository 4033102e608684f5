// prints the fork strategy the loader stored (pyjos run --jos DIR --fork S)
#include <inc/lib.h>

extern int pyjos_fork_strategy;

void
umain(int argc, char **argv)
{
	cprintf("fork strategy %d\n", pyjos_fork_strategy);
}
