/*
 * nomem: allocates pages until -E_NO_MEM, then tries exofork and page_map.
 */
#include "rawsys.h"

void
umain(int argc, char **argv)
{
	uint32_t va = 0x10000000;
	int r, n = 0;

	while ((r = sys_page_alloc(0, (void *) va, PUW)) == 0) {
		*(volatile int *) va = n;	/* the page is really there */
		va += PGSIZE;
		n++;
	}
	R("nomem", r);
	R("got_pages", n > 100);
	R("exofork_nomem", sys_exofork());
	R("map_nomem_or_ok", sc(SYS_page_map, 0, 0x10000000, 0, 0x80000000, PU));
	R("first_page", *(volatile int *) 0x10000000);
	R("unmap", sys_page_unmap(0, (void *) 0x10000000));
	R("alloc_after_unmap", sys_page_alloc(0, (void *) 0x10000000, PUW));
	cprintf("nomem done\n");
}
