// check that the page fault upcall restores every register and eflags
#include <inc/lib.h>

/* A register snapshot; the assembly below depends on these offsets. */
struct regs {
	struct PushRegs regs;	/* 0x00 */
	uintptr_t eip;		/* 0x20 */
	uint32_t eflags;	/* 0x24 */
	uintptr_t esp;		/* 0x28 */
};

/* Assembly that stores all general registers into the struct regs at
 * memory operand base, and that loads them back. */
#define SAVE_REGS(base)					\
	"\tmovl %%edi, " base "+0x00\n"			\
	"\tmovl %%esi, " base "+0x04\n"			\
	"\tmovl %%ebp, " base "+0x08\n"			\
	"\tmovl %%ebx, " base "+0x10\n"			\
	"\tmovl %%edx, " base "+0x14\n"			\
	"\tmovl %%ecx, " base "+0x18\n"			\
	"\tmovl %%eax, " base "+0x1c\n"			\
	"\tmovl %%esp, " base "+0x28\n"
#define LOAD_REGS(base)					\
	"\tmovl " base "+0x00, %%edi\n"			\
	"\tmovl " base "+0x04, %%esi\n"			\
	"\tmovl " base "+0x08, %%ebp\n"			\
	"\tmovl " base "+0x10, %%ebx\n"			\
	"\tmovl " base "+0x14, %%edx\n"			\
	"\tmovl " base "+0x18, %%ecx\n"			\
	"\tmovl " base "+0x1c, %%eax\n"			\
	"\tmovl " base "+0x28, %%esp\n"

static struct regs before, during, after;

/* Print one row of the comparison table; returns whether the values match. */
static bool
check_field(const char *name, uint32_t a, uint32_t b)
{
	cprintf("%-6s %08x %08x ", name, a, b);
	cprintf(a == b ? "OK\n" : "MISMATCH\n");
	return a == b;
}

/* Print the table comparing snapshots a and b and a verdict line. */
static void
check_regs(const struct regs *a, const char *an, const struct regs *b,
	   const char *bn, const char *testname)
{
	bool ok = true;

	cprintf("%-6s %-8s %-8s\n", "", an, bn);
	ok &= check_field("edi", a->regs.reg_edi, b->regs.reg_edi);
	ok &= check_field("esi", a->regs.reg_esi, b->regs.reg_esi);
	ok &= check_field("ebp", a->regs.reg_ebp, b->regs.reg_ebp);
	ok &= check_field("ebx", a->regs.reg_ebx, b->regs.reg_ebx);
	ok &= check_field("edx", a->regs.reg_edx, b->regs.reg_edx);
	ok &= check_field("ecx", a->regs.reg_ecx, b->regs.reg_ecx);
	ok &= check_field("eax", a->regs.reg_eax, b->regs.reg_eax);
	ok &= check_field("eip", a->eip, b->eip);
	ok &= check_field("eflags", a->eflags, b->eflags);
	ok &= check_field("esp", a->esp, b->esp);
	cprintf("Registers %s ", testname);
	cprintf(ok ? "OK\n" : "MISMATCH\n");
}

/* Compare the trap-time registers with those saved before the fault,
 * then map UTEMP so that the faulting write succeeds when retried. */
static void
pgfault(struct UTrapframe *utf)
{
	int r;

	if (utf->utf_fault_va != (uint32_t) UTEMP)
		panic("pgfault expected at UTEMP, got 0x%08x (eip %08x)",
		      utf->utf_fault_va, utf->utf_eip);

	during.regs = utf->utf_regs;
	during.eip = utf->utf_eip;
	/* The resume flag may be set in a fault's saved eflags. */
	during.eflags = utf->utf_eflags & ~FL_RF;
	during.esp = utf->utf_esp;
	check_regs(&before, "before", &during, "during", "in UTrapframe");

	if ((r = sys_page_alloc(0, UTEMP, PTE_U | PTE_P | PTE_W)) < 0)
		panic("sys_page_alloc: %e", r);
}

void
umain(int argc, char **argv)
{
	set_pgfault_handler(pgfault);

	asm volatile(
		/* Set OF, SF, ZF, AF and PF, to catch lost flags. */
		"\tpushl %%eax\n"
		"\tpushfl\n"
		"\tpopl %%eax\n"
		"\torl $0x8d4, %%eax\n"
		"\tpushl %%eax\n"
		"\tpopfl\n"
		/* Snapshot eflags, the faulting eip and the registers. */
		"\tmovl %%eax, %0+0x24\n"
		"\tleal 0f, %%eax\n"
		"\tmovl %%eax, %0+0x20\n"
		"\tpopl %%eax\n"
		SAVE_REGS("%0")
		/* Write to UTEMP, which is not mapped yet. */
		"0:\tmovl $42, 0x400000\n"
		/* Snapshot the registers after the fault, then restore the
		 * ones from before, so that the test can report even if
		 * only eip came back right. */
		SAVE_REGS("%1")
		LOAD_REGS("%0")
		/* Snapshot eflags now that the stack is back. */
		"\tpushl %%eax\n"
		"\tpushfl\n"
		"\tpopl %%eax\n"
		"\tmovl %%eax, %1+0x24\n"
		"\tpopl %%eax\n"
		: "=m" (before), "=m" (after) : : "memory", "cc");

	/* The write went through only if eip came back to it. */
	if (*(volatile int *) UTEMP != 42)
		cprintf("EIP after page-fault MISMATCH\n");
	after.eip = before.eip;

	check_regs(&before, "before", &after, "after", "after page-fault");
}
