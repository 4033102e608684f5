/*
 * pyjos's timer: a Unicorn UC_HOOK_BLOCK callback that counts guest basic
 * blocks and stops the CPU when a time slice's budget runs out.  Written in
 * C because a Python block hook costs 27-300x; this one costs 1.4-2.1x
 * (ARCHITECTURE.md).  Deterministic: the same program stops at the same
 * block on every run.
 *
 * No #include: the types come from the compiler's own predefined macros, so
 * this builds with any gcc or clang, with or without libc headers.
 */
typedef __INT64_TYPE__ int64_t;
typedef __UINT64_TYPE__ uint64_t;
typedef __UINT32_TYPE__ uint32_t;

struct pyjos_budget {
	int64_t left;          /* blocks the current slice may still start */
	int64_t blocks;        /* blocks run since the budget was created */
	int64_t expired;       /* set to 1 when a slice ran out */
	int (*stop)(void *uc); /* uc_emu_stop, passed in by the kernel */
};

void
pyjos_block_hook(void *uc, uint64_t address, uint32_t size, void *user_data)
{
	struct pyjos_budget *b = user_data;

	(void) address;
	(void) size;
	/* Called as a block starts: stop before block quantum+1, so that a
	 * slice runs exactly `quantum` blocks (at least one). */
	if (b->left == 0) {
		b->expired = 1;
		b->stop(uc);
		return;
	}
	b->left--;
	b->blocks++;
}
