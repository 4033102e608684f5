// try to make sys_cputs print kernel memory
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	/* The kernel's entry point, which a user may not read. */
	sys_cputs((char *) 0xf010000c, 100);
}
