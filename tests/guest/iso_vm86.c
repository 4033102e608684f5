/* Item 3: an iret that sets EFLAGS.VM from ring 3 (a real i386 at IOPL 0
 * keeps VM clear).  Only this env may suffer; the next env must run with
 * its own selectors.  argv[1]: "fault" (the VM86 code at 0x100 is not
 * mapped: a page fault in VM86), "spin" (page 0 holds `jmp .`: VM86 code
 * runs until the timer), "syscall" (IOPL 3 in VM86: `int $0x30` there
 * reaches the kernel, then sys_yield switches away). */
#include "iso.h"

static void
vm86_iret(uint32_t eflags)
{
	asm volatile("pushl $0\n\tpushl $0\n\tpushl $0\n\tpushl $0\n"	/* gs fs ds es */
		     "\tpushl $0x0\n\tpushl $0x1000\n"			/* ss esp */
		     "\tpushl %0\n"					/* eflags */
		     "\tpushl $0x0\n\tpushl $0x100\n"			/* cs eip */
		     "\tiret" :: "r" (eflags) : "memory");
}

void
umain(int argc, char **argv)
{
	const char *how = argc > 1 ? argv[1] : "fault";
	uint8_t *page0 = 0;

	sys_yield();	/* let the bystander start first */
	if (strcmp(how, "fault") != 0) {
		if (sys_page_alloc(0, page0, PUW) < 0)
			panic("page 0");
		if (strcmp(how, "spin") == 0) {
			page0[0x100] = 0xeb;	/* jmp . */
			page0[0x101] = 0xfe;
		} else {	/* mov $SYS_yield, %ax; int $0x30; jmp . */
			page0[0x100] = 0xb8;
			page0[0x101] = SYS_yield;
			page0[0x102] = 0;
			page0[0x103] = 0xcd;
			page0[0x104] = 0x30;
			page0[0x105] = 0xeb;
			page0[0x106] = 0xfe;
		}
	}
	vm86_iret(strcmp(how, "syscall") == 0 ? 0x23202 : 0x20202);	/* VM | IF (| IOPL 3) */
	cprintf("vm86 iret returned\n");
}
