/*
 * fastsys: sysenter or syscall (argv[1]) in ring 3, then "<insn> returned", which
 * must not print (on i386, sysenter with SYSENTER_CS_MSR = 0 is #GP, syscall #UD).
 */
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";

	if (!strcmp(what, "sysenter"))
		asm volatile("sysenter");
	else if (!strcmp(what, "syscall"))
		asm volatile("syscall");
	else
		panic("fastsys: unknown instruction '%s'", what);
	cprintf("%s returned\n", what);
}
