// execute int3, which a user may do (enters the kernel monitor)
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	asm volatile("int $3");
}
