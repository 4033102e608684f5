/* Item 4: pyjos_fork_strategy in a read-only segment: the loader must not
 * write it (it would change a page the program cannot write). */
#include <inc/lib.h>

asm(".section .rodata\n\t.balign 4\n\t.globl pyjos_fork_strategy\n\t"
    ".type pyjos_fork_strategy, @object\n\t.size pyjos_fork_strategy, 4\n"
    "pyjos_fork_strategy:\n\t.long 7\n\t.text");

void
umain(int argc, char **argv)
{
	cprintf("loaded %d\n", pyjos_fork_strategy);
}
