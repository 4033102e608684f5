// ask sys_cputs to print 1 MiB, running past the mapped pages
#include <inc/lib.h>

const char *hello = "hello, world\n";

void
umain(int argc, char **argv)
{
	sys_cputs(hello, 1024 * 1024);
}
