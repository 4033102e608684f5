/*
 * tlb: remaps, write-protects and unmaps a page it has just used: the TLB must
 * follow every page-table change.
 */
#include "rawsys.h"

#define P	0x10000000
#define Q	0x10001000

static int faults, last_err;

static void
handler(struct UTrapframe *utf)
{
	int r;

	faults++;
	last_err = utf->utf_err;
	if (ROUNDDOWN(utf->utf_fault_va, PGSIZE) != P)
		panic("unexpected fault at %x", utf->utf_fault_va);
	if (utf->utf_err & FEC_PR) {	/* write to a read-only page: a private copy */
		if ((r = sys_page_alloc(0, PFTEMP, PUW)) < 0)
			panic("handler: %e", r);
		memmove(PFTEMP, (void *) P, PGSIZE);
		r = sys_page_map(0, PFTEMP, 0, (void *) P, PUW);
		sys_page_unmap(0, PFTEMP);
	} else				/* not present: a fresh page */
		r = sys_page_alloc(0, (void *) P, PUW);
	if (r < 0)
		panic("handler: %e", r);
}

void
umain(int argc, char **argv)
{
	volatile int *p = (volatile int *) P, *q = (volatile int *) Q;

	set_pgfault_handler(handler);
	sys_page_alloc(0, (void *) P, PUW);
	sys_page_alloc(0, (void *) Q, PUW);
	*p = 1;
	*q = 2;
	R("p_before", *p);	/* now cached in the TLB */

	sys_page_map(0, (void *) Q, 0, (void *) P, PUW);	/* another frame at P */
	R("p_remapped", *p);
	*p = 5;
	R("q_shared", *q);

	sys_page_map(0, (void *) P, 0, (void *) P, PU);	/* downgrade to read-only */
	R("p_readonly_read", *p);
	R("faults_before_write", faults);
	*p = 3;						/* faults once, then retried */
	R("faults_after_write", faults);
	R("err_after_write", last_err);
	R("p_written", *p);

	sys_page_unmap(0, (void *) P);
	R("p_unmapped_read", *p);			/* faults, gets a zero page */
	R("faults_after_unmap", faults);
	R("err_after_unmap", last_err);
	R("q_kept", *q);
	cprintf("tlb done\n");
}
