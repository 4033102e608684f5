/* Item 3: an iret that sets EFLAGS.VM from ring 3 (a real i386 at IOPL 0
 * keeps VM clear).  Only this env may suffer; the next env must run with
 * its own selectors. */
#include "iso.h"

void
umain(int argc, char **argv)
{
	sys_yield();	/* let the bystander start first */
	asm volatile("pushl $0\n\tpushl $0\n\tpushl $0\n\tpushl $0\n"	/* gs fs ds es */
		     "\tpushl $0x0\n\tpushl $0x1000\n"			/* ss esp */
		     "\tpushl $0x20202\n"				/* eflags: VM | IF */
		     "\tpushl $0x0\n\tpushl $0x100\n"			/* cs eip */
		     "\tiret" ::: "memory");
	cprintf("vm86 iret returned\n");
}
