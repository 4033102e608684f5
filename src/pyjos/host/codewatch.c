/*
 * pyjos's cross-CPU code coherence.  Each emulated CPU is its own Unicorn
 * instance with its own cache of translated code.  QEMU watches a CPU's own
 * stores to the pages it translated code from (on i386 every store takes
 * that slow path) and drops the blocks they change; a store by another CPU
 * goes unseen, and without this file the CPU would go on running the old
 * code (tests/guest/xmodify.c).  On real x86 the new code runs once the CPU
 * that executes it has serialized (an iret does).
 *
 * A Unicorn UC_HOOK_EDGE_GENERATED hook per CPU (called for each block just
 * translated, before it first runs) puts the frames the block was read from
 * on that CPU's list, with a copy of each frame as it was then.  (2.1.4 skips
 * the hook for the first block an instance ever translates, having no block
 * before it: on a pyjos machine the calibration's, whose blocks it drops, or
 * the boot stub's, which nothing rewrites.)  The CPUs
 * run one at a time, so before a CPU runs again the machine calls
 * pyjos_code_check: a frame whose bytes differ from its copy was changed
 * since (by another CPU, or by the kernel, or by this CPU itself, whose own
 * blocks QEMU already dropped); it leaves the list, and the machine drops
 * this CPU's blocks of it (tb_invalidate_phys_range).  A store hook would
 * do the same per store, but any UC_HOOK_MEM_WRITE makes Unicorn 2.1.4 take
 * the slow path for every load too: a primes run on 4 CPUs cost 25% more
 * host instructions that way, 0.9% this way (callgrind; ARCHITECTURE.md).
 *
 * The block hook translates the block's virtual address with the CPU's
 * loaded page directory, which the machine writes into pgdir[] at every CR3
 * load: two-level i386 paging without PSE (pyjos never sets CR4.PSE).
 *
 * No #include, as host/preempt.c: the types come from the compiler.
 */
typedef __UINT64_TYPE__ uint64_t;
typedef __INT64_TYPE__ int64_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT8_TYPE__ uint8_t;

#define PGSIZE 4096

/* Unicorn's uc_tb (unicorn.h). */
struct uc_tb {
	uint64_t pc;
	uint16_t icount;
	uint16_t size;
};

/* One CPU's watch; the hook's user data. */
struct pyjos_codewatch {
	const uint8_t *mem;     /* guest physical memory, shared by every CPU */
	uint64_t mem_size;
	uint32_t pgdir;         /* the CPU's loaded page directory (physical) */
	uint32_t max;           /* room on the list */
	uint32_t n;             /* frames on the list */
	uint32_t overflow;      /* 1: a frame did not fit: drop every block */
	uint32_t *frames;       /* the list: frame numbers ... */
	uint8_t *copies;        /* ... and each one's bytes when it joined */
	uint8_t *listed;        /* a bit per frame: on the list */
	uint32_t *changed;      /* pyjos_code_check's output: frames that changed */
	uint64_t blocks;        /* blocks seen translated */
	uint64_t dropped;       /* frames found changed */
};

static uint32_t
load32(const uint8_t *p)
{
	return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}

/* The frame number that va maps to, or -1 if none. */
static int64_t
frame_of(const struct pyjos_codewatch *w, uint32_t va)
{
	uint64_t pde_at = (uint64_t) w->pgdir + (va >> 22) * 4, pte_at;
	uint32_t pde, pte;

	if (pde_at + 4 > w->mem_size)
		return -1;
	pde = load32(w->mem + pde_at);
	if (!(pde & 1))
		return -1;
	pte_at = (uint64_t) (pde & ~0xfffu) + ((va >> 12) & 0x3ff) * 4;
	if (pte_at + 4 > w->mem_size)
		return -1;
	pte = load32(w->mem + pte_at);
	if (!(pte & 1) || (uint64_t) (pte & ~0xfffu) + PGSIZE > w->mem_size)
		return -1;
	return pte >> 12;
}

static void
watch_frame(struct pyjos_codewatch *w, uint32_t va)
{
	int64_t ppn = frame_of(w, va);
	uint8_t bit;

	if (ppn < 0)
		return;
	bit = (uint8_t) (1u << (ppn & 7));
	if (w->listed[ppn >> 3] & bit)
		return;
	if (w->n == w->max) {
		w->overflow = 1;
		return;
	}
	w->listed[ppn >> 3] |= bit;
	w->frames[w->n] = (uint32_t) ppn;
	__builtin_memcpy(w->copies + (uint64_t) w->n * PGSIZE, w->mem + (uint64_t) ppn * PGSIZE, PGSIZE);
	w->n++;
}

/* UC_HOOK_EDGE_GENERATED: `cur` was just translated on this CPU. */
void
pyjos_code_block_hook(void *uc, struct uc_tb *cur, struct uc_tb *prev, void *user_data)
{
	struct pyjos_codewatch *w = user_data;
	uint32_t pc = (uint32_t) cur->pc;

	(void) uc;
	(void) prev;
	w->blocks++;
	watch_frame(w, pc);
	if (cur->size > 0)
		watch_frame(w, pc + cur->size - 1);   /* a block may end on the next page */
}

/* Before the CPU runs again: the frames on its list whose bytes changed
 * leave it and go to changed[]; their number.  Frames stay in list order. */
uint32_t
pyjos_code_check(struct pyjos_codewatch *w)
{
	uint32_t i, kept = 0, nchanged = 0, ppn;
	uint8_t *copy;

	for (i = 0; i < w->n; i++) {
		ppn = w->frames[i];
		copy = w->copies + (uint64_t) i * PGSIZE;
		if (__builtin_memcmp(copy, w->mem + (uint64_t) ppn * PGSIZE, PGSIZE) != 0) {
			w->listed[ppn >> 3] &= (uint8_t) ~(1u << (ppn & 7));
			w->changed[nchanged++] = ppn;
			continue;
		}
		if (kept != i) {
			w->frames[kept] = ppn;
			__builtin_memcpy(w->copies + (uint64_t) kept * PGSIZE, copy, PGSIZE);
		}
		kept++;
	}
	w->n = kept;
	w->dropped += nchanged;
	return nchanged;
}

/* The CPU dropped every translated block: empty its list. */
void
pyjos_code_forget(struct pyjos_codewatch *w)
{
	uint32_t i;

	for (i = 0; i < w->n; i++)
		w->listed[w->frames[i] >> 3] &= (uint8_t) ~(1u << (w->frames[i] & 7));
	w->n = 0;
	w->overflow = 0;
}
