/* Item 2: batch descriptors and result slots in UVPT (read-only to users
 * through the directory entry) or reaching UTOP must give -E_FAULT, not
 * make the kernel write page tables. */
#include "iso.h"

#define TEXT_PT		(UVPT + PGNUM(UTEXT) * 4)	/* PTEs of the program text */
#define SELF_PD		(UVPT + PDX(UVPT) * PGSIZE)	/* the directory itself */

void
umain(int argc, char **argv)
{
	static struct BatchCall ok[1] = {{ SYS_getenvid }};

	R("batch_text_pt", sys_batch((struct BatchCall *) TEXT_PT, 1, 0));
	R("batch_text_pt_many", sys_batch((struct BatchCall *) TEXT_PT, 64, BATCH_CONTINUE));
	R("batch_self_pd", sys_batch((struct BatchCall *) SELF_PD, 1, 0));
	R("batch_uvpt_last", sys_batch((struct BatchCall *) (ULIM - 28), 1, 0));
	R("batch_upages", sys_batch((struct BatchCall *) UPAGES, 1, 0));
	R("batch_below_utop", sys_batch((struct BatchCall *) (UTOP - 16), 1, 0));
	R("page_map_from_uvpt", sys_page_map(0, (void *) UVPT, 0, (void *) 0x10000000, PUW));
	R("cputs_uvpt", (sys_cputs((const char *) TEXT_PT, 0), 0));
	R("batch_still_works", sys_batch(ok, 1, 0) == 1 && ok[0].bc_result == thisenv->env_id);
	R("text_pte", (uvpt[PGNUM(UTEXT)] & PTE_W) == 0);
}
