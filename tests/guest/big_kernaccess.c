// touch kernel address argv[1] (hex) from user mode: read, or write with argv[2] = "w"
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	volatile uint32_t *p = (volatile uint32_t *) strtol(argv[1], 0, 16);

	if (argc > 2 && argv[2][0] == 'w')
		*p = 1;
	else
		cprintf("big_kernaccess: read %08x\n", *p);
	cprintf("big_kernaccess: no fault at %08x\n", (uint32_t) p);
}
