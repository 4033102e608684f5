/*
 * dirtybits: the CPU sets the accessed and dirty bits of the PTEs it uses
 * (the kernel's count of dumb fork's copies relies on PTE_D).  Three fresh
 * pages: one untouched, one read, one written; then a read page written
 * (its TLB entry came from a read).  Prints each PTE's A and D bits.
 */
#include <inc/lib.h>

#define PAGE(i)	((char *) (UTEMP + (i) * PGSIZE))

static void
show(const char *what, int i)
{
	pte_t pte = uvpt[PGNUM(PAGE(i))];

	cprintf("%s A %d D %d\n", what, !!(pte & PTE_A), !!(pte & PTE_D));
}

void
umain(int argc, char **argv)
{
	volatile char *p;
	int i, r;

	for (i = 0; i < 4; i++)
		if ((r = sys_page_alloc(0, PAGE(i), PTE_P | PTE_U | PTE_W)) < 0)
			panic("sys_page_alloc: %e", r);
	p = PAGE(1);
	(void) p[10];
	p = PAGE(2);
	p[20] = 1;
	p = PAGE(3);
	(void) p[30];
	show("read-then-written before", 3);
	p[31] = 1;
	show("untouched", 0);
	show("read", 1);
	show("written", 2);
	show("read-then-written", 3);
}
