// read from address 0 (unmapped)
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	cprintf("I read %08x from location 0!\n", *(volatile unsigned *) 0);
}
