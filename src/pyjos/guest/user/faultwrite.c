// write to address 0 (unmapped)
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	*(volatile unsigned *) 0 = 0;
}
