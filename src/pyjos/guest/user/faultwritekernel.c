// write kernel memory at 0xf0100000
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	*(volatile unsigned *) 0xf0100000 = 0;
}
