// prints one line, then never stops: only an instruction budget ends it
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	volatile int n = 0;

	cprintf("running for ever\n");
	for (;;)
		n++;
}
