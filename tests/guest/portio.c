/*
 * portio: one port I/O instruction in ring 3 (argv[1]: "inb" or "outb"), then a
 * line that must not print (the instruction is a general protection fault).
 */
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	if (!strcmp(what, "inb"))
		asm volatile("inb $0x60, %%al" ::: "eax");
	else if (!strcmp(what, "outb"))
		asm volatile("outb %%al, $0x80" ::: "eax");
	else
		panic("portio: unknown instruction '%s'", what);
	cprintf("port io worked\n");
}
