// pass an unmapped address to sys_cputs (the kernel must kill it)
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	sys_cputs((char *) 1, 1);
}
