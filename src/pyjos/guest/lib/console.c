/* Single-character console I/O over the cputs and cgetc system calls. */
#include <inc/lib.h>

/* Write one character to the console. */
void
cputchar(int ch)
{
	char c = ch;

	sys_cputs(&c, 1);
}

/* Wait for and return one console character, or a negative error code. */
int
getchar(void)
{
	int r;

	while ((r = sys_cgetc()) == 0)
		sys_yield();
	return r;
}
