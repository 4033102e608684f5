/* Item 4: pyjos_fork_strategy not 4-byte aligned (in a writable segment). */
#include <inc/lib.h>

asm(".data\n\t.byte 0\n\t.globl pyjos_fork_strategy\n\t"
    ".type pyjos_fork_strategy, @object\n\t.size pyjos_fork_strategy, 4\n"
    "pyjos_fork_strategy:\n\t.long 0\n\t.text");

void
umain(int argc, char **argv)
{
	cprintf("loaded\n");
}
