// raise interrupt 14 by hand, which a user may not (general protection)
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	asm volatile("int $14");	/* page fault vector */
}
