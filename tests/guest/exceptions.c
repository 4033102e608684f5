/*
 * exceptions: does the one thing argv[1] names (a faulting instruction, a wild jump or
 * stack, a bad upcall, ...) and prints "survived" if it lives.
 */
#include <inc/lib.h>

static int
recurse(int n)
{
	volatile char buf[512];

	buf[0] = n;
	return n ? recurse(n - 1) + buf[0] : 0;
}

static void
refault(struct UTrapframe *utf)
{
	/* Fault again inside the handler, for ever: the exception stack overflows. */
	*(volatile int *) (0x50000000 + (utf->utf_esp & 0xfff)) = 1;
}

void
umain(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	static int bounds[2] = {0, 1};
	int id;

	cprintf("doing %s\n", what);
	if (!strcmp(what, "ud2"))
		asm volatile("ud2");
	else if (!strcmp(what, "hlt"))
		asm volatile("hlt");
	else if (!strcmp(what, "cli"))
		asm volatile("cli");
	else if (!strcmp(what, "int80"))
		asm volatile("int $0x80");
	else if (!strcmp(what, "int14"))
		asm volatile("int $14");
	else if (!strcmp(what, "into"))
		asm volatile("movl $0x7fffffff, %%eax; addl $1, %%eax; into" ::: "eax", "cc");
	else if (!strcmp(what, "bound"))
		asm volatile("movl $5, %%eax; bound %%eax, %0" :: "m" (bounds) : "eax");
	else if (!strcmp(what, "trapflag"))
		asm volatile("pushfl; orl $0x100, (%%esp); popfl; nop; nop" ::: "cc");
	else if (!strcmp(what, "lgdt"))
		asm volatile("lgdt %0" :: "m" (bounds));
	else if (!strcmp(what, "ljmp_kernel"))
		asm volatile("ljmp $0x08, $1f; 1:");
	else if (!strcmp(what, "mov_cr3"))
		asm volatile("movl %%eax, %%cr3" ::: "eax");
	else if (!strcmp(what, "mov_ss_kernel"))
		asm volatile("movw $0x10, %%ax; movw %%ax, %%ss" ::: "eax");
	else if (!strcmp(what, "idiv_overflow"))
		asm volatile("movl $0x80000000, %%eax; cdq; movl $-1, %%ecx; idivl %%ecx"
			     ::: "eax", "edx", "ecx");
	else if (!strcmp(what, "rdmsr"))
		asm volatile("rdmsr" ::: "eax", "edx");
	else if (!strcmp(what, "lock_nop"))
		asm volatile(".byte 0xf0; nop");
	else if (!strcmp(what, "stack_overflow"))
		recurse(100000);
	else if (!strcmp(what, "jmp_kernel"))
		asm volatile("jmp *%0" :: "r" (0xf0100000));
	else if (!strcmp(what, "jmp_null"))
		asm volatile("jmp *%0" :: "r" (0));
	else if (!strcmp(what, "esp_kernel"))
		asm volatile("movl $0xf0001000, %%esp; pushl $1" ::: "memory");
	else if (!strcmp(what, "syscall_esp_kernel"))
		asm volatile("movl %%esp, %%ebx; movl $0xf0001000, %%esp; movl %1, %%eax;"
			     "int $0x30; movl %%ebx, %%esp"
			     : "=a" (id) : "i" (SYS_getenvid) : "ebx", "ecx", "edx", "esi", "edi", "memory");
	else if (!strcmp(what, "write_text"))
		*(volatile int *) umain = 0;
	else if (!strcmp(what, "write_envs"))
		*(volatile int *) &envs[0].env_status = ENV_RUNNABLE;
	else if (!strcmp(what, "write_uvpt"))
		uvpt[PGNUM(UTEXT)] = 0xffffffff;
	else if (!strcmp(what, "read_trampoline_page"))
		cprintf("read %x\n", *(volatile uint8_t *) (UENVS + 0x20000));
	else if (!strcmp(what, "jump_trampoline"))
		asm volatile("movl $2, %%eax; jmp *%0" :: "r" (UENVS + 0x20000) : "eax");
	else if (!strcmp(what, "exception_stack_overflow")) {
		set_pgfault_handler(refault);
		*(volatile int *) 0x50000000 = 1;
	} else if (!strcmp(what, "uxstack_readonly")) {
		set_pgfault_handler(refault);
		sys_page_map(0, (void *) (UXSTACKTOP - PGSIZE), 0, (void *) (UXSTACKTOP - PGSIZE),
			     PTE_P | PTE_U);
		*(volatile int *) 0x50000000 = 1;
	} else if (!strcmp(what, "upcall_no_return")) {
		sys_env_set_pgfault_upcall(0, (void *) 0x800020);	/* _start */
		*(volatile int *) 0x50000000 = 1;
	}
	cprintf("survived %s\n", what);
}
