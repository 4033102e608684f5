/*
 * batchtest.h: what the sys_batch programs share: SENT, the sentinel of a result
 * slot the kernel did not store; batch_set(), which fills one descriptor; and
 * batch_results(), which prints " r0 r1 ..." with " -" for an untouched slot.
 */
#include <inc/lib.h>
#include <inc/batch.h>

#define SENT	0x5a5a5a5a

static inline void
batch_set(struct BatchCall *c, uint32_t num, uint32_t a1, uint32_t a2, uint32_t a3,
	  uint32_t a4, uint32_t a5)
{
	c->bc_num = num;
	c->bc_args[0] = a1;
	c->bc_args[1] = a2;
	c->bc_args[2] = a3;
	c->bc_args[3] = a4;
	c->bc_args[4] = a5;
	c->bc_result = SENT;
}

static inline void
batch_results(const struct BatchCall *c, int n)
{
	int i;

	for (i = 0; i < n; i++) {
		if (c[i].bc_result == SENT)
			cprintf(" -");
		else
			cprintf(" %d", c[i].bc_result);
	}
}
