/* Item 4: a program whose pyjos_fork_strategy symbol the loader must refuse
 * under --fork (here: an absolute address, unmapped). */
#include <inc/lib.h>

asm(".globl pyjos_fork_strategy\n\t.type pyjos_fork_strategy, @object\n\t"
    ".size pyjos_fork_strategy, 4\n\t.set pyjos_fork_strategy, 0x7000000");

void
umain(int argc, char **argv)
{
	cprintf("loaded\n");
}
