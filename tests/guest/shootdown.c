/*
 * shootdown: the parent unmaps a page of its forked child while the child
 * reads it on another CPU; the child's next read must fault (its CPU's TLB is
 * flushed), never see the old frame, which the parent rewrites at once.
 */
#include <inc/lib.h>

#define P ((volatile int *) 0x10000000)		/* the page taken away */
#define PUW (PTE_P | PTE_U | PTE_W)

struct flags { volatile int reading, faulted; };
#define S ((struct flags *) 0x10001000)		/* shared by both */

static void
handler(struct UTrapframe *utf)
{
	if (utf->utf_fault_va != (uint32_t) P || (utf->utf_err & FEC_PR))
		panic("shootdown: unexpected fault at %x err %x", utf->utf_fault_va, utf->utf_err);
	cprintf("shootdown: the child faulted at %x on CPU %d\n", utf->utf_fault_va,
		thisenv->env_cpunum);
	S->faulted = 1;
	exit();
}

static void
child_reads(void)
{
	set_pgfault_handler(handler);
	while (!(uvpd[PDX(S)] & PTE_P) || !(uvpt[PGNUM(S)] & PTE_P))
		sys_yield();	/* the parent maps P, then S, here */
	while (1) {
		if (*P != 42) {
			cprintf("shootdown: the child read %d: the old frame\n", *P);
			S->faulted = 1;	/* it did not, but the parent may end */
			exit();
		}
		if (!S->reading) {
			cprintf("shootdown: the child reads on CPU %d\n", thisenv->env_cpunum);
			S->reading = 1;
		}
	}
}

static void
check(int r, const char *what)
{
	if (r < 0)
		panic("shootdown: %s: %e", what, r);
}

void
umain(int argc, char **argv)
{
	envid_t child;

	if ((child = fork()) == 0)
		child_reads();
	check(sys_page_alloc(0, (void *) P, PUW), "alloc P");
	*P = 42;
	check(sys_page_map(0, (void *) P, child, (void *) P, PTE_P | PTE_U), "map P");
	check(sys_page_alloc(0, S, PUW), "alloc S");
	check(sys_page_map(0, S, child, S, PUW), "share S");
	while (!S->reading)
		;	/* the child runs on another CPU meanwhile */
	check(sys_page_unmap(child, (void *) P), "unmap the child's P");
	*P = 99;	/* the old frame, still mapped here */
	cprintf("shootdown: the parent on CPU %d unmapped the child's page\n",
		thisenv->env_cpunum);
	while (!S->faulted)
		sys_yield();
	cprintf("shootdown: done\n");
}
