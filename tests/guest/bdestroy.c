/*
 * bdestroy: a batch whose sys_env_destroy kills its caller (argv[1] "self") or is done
 * by a child: the calls after it never run.
 */
#include "batchtest.h"

#define SHARED	0x10000000	/* descriptors, shared with the parent */

static const char msg[] = "SHOULD NOT PRINT (call after destroy)\n";

void
umain(int argc, char **argv)
{
	struct BatchCall *c = (struct BatchCall *) SHARED;
	int self = argc > 1 && strcmp(argv[1], "self") == 0;
	envid_t id;
	int r;

	if ((r = sys_page_alloc(0, c, PTE_P | PTE_U | PTE_W | PTE_SHARE)) < 0)
		panic("sys_page_alloc: %e", r);
	if ((id = fork()) < 0)
		panic("fork: %e", id);
	if (id == 0) {
		envid_t me = sys_getenvid();
		struct BatchCall mine[4] = {
			{ SYS_getenvid, { 0 }, SENT },
			{ SYS_env_destroy, { self ? me : 0 }, SENT },
			{ SYS_cputs, { (uint32_t) msg, sizeof msg - 1 }, SENT },
			{ SYS_page_alloc, { 0, 0x10001000, PTE_P | PTE_U | PTE_W }, SENT },
		};
		memmove(c, mine, sizeof mine);
		r = sys_batch(c, 4, BATCH_CONTINUE);
		cprintf("SHOULD NOT PRINT (after the batch: %d)\n", r);
		return;
	}
	while (envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE)
		sys_yield();
	cprintf("child %d results", id);
	batch_results(c, 4);
	cprintf("\n");
}
