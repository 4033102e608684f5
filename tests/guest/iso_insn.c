/* Item 7: instructions that fault at CPL 3 with IOPL 0 on an i386 (#GP), or
 * are undefined (#UD).  argv[1] picks one; reaching the cprintf is the bug. */
#include "iso.h"

void
umain(int argc, char **argv)
{
	static char buf[16];
	const char *what = argc > 1 ? argv[1] : "";

	if (strcmp(what, "insb") == 0)
		asm volatile("cld; insb" :: "D" (buf), "d" (0x60) : "memory");
	else if (strcmp(what, "outsb") == 0)
		asm volatile("cld; outsb" :: "S" (buf), "d" (0x80));
	else if (strcmp(what, "lock_nop") == 0)
		asm volatile(".byte 0xf0, 0x90");	/* lock nop: #UD */
	else if (strcmp(what, "lock_mov") == 0)
		asm volatile(".byte 0xf0, 0x89, 0xc0");	/* lock mov %eax, %eax: #UD */
	else if (strcmp(what, "rdpmc") == 0)
		asm volatile("rdpmc" ::: "eax", "edx");	/* CR4.PCE = 0: #GP */
	cprintf("%s returned\n", what);
}
