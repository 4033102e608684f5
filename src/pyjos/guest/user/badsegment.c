// load the TSS selector into %ds (general protection fault)
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	/* Selector 0x28 is GD_TSS0, a system segment. */
	asm volatile("movw $0x28,%ax; movw %ax,%ds");
}
