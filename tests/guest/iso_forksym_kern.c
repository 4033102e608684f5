/* Item 4: a program whose pyjos_fork_strategy symbol the loader must refuse
 * under --fork (here: an absolute address, kern). */
#include <inc/lib.h>

asm(".globl pyjos_fork_strategy\n\t.type pyjos_fork_strategy, @object\n\t"
    ".size pyjos_fork_strategy, 4\n\t.set pyjos_fork_strategy, 0xf0000ff0");

void
umain(int argc, char **argv)
{
	cprintf("loaded\n");
}
