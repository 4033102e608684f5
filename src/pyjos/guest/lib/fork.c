/*
 * fork in the user library, four ways (enum fork_strategy in inc/lib.h),
 * and sfork.  All but fork_kernel walk the address space here, on top of
 * exofork, page_map and a user-level page fault handler:
 *   fork_cow    one system call per page table entry, as JOS;
 *   fork_batch  the same calls, sent through sys_batch in a few traps;
 *   fork_dumb   an eager copy of every page;
 *   sfork       shares the pages instead (stack and .thisenv copy-on-write).
 */
#include <inc/lib.h>
#include <inc/batch.h>

/* fork()'s strategy; the loader may store another value (pyjos run --fork). */
int pyjos_fork_strategy = FORK_COW;

/* Pages this env copied for children at fork time (fork_dumb, shared pages). */
int fork_eager_copies;

/*
 * fork_batch's descriptor array: allocated on first use at a fixed address
 * and never given to children (the walk below skips it).
 */
#define BATCHBUF	UBATCHBUF
#define BATCHBUF_PAGES	(ROUNDUP(BATCH_MAX * sizeof(struct BatchCall), PGSIZE) / PGSIZE)
#define BATCHBUF_END	(BATCHBUF + BATCHBUF_PAGES * PGSIZE)
#define CALLS_PER_PAGE	(PGSIZE / sizeof(struct BatchCall))

/* How the walk gives the child a page. */
enum dup_mode { DUP_COW, DUP_SHARED, DUP_COPY };

/*
 * fork_batch's queue of calls (on the caller's stack, so concurrent
 * sforked envs never share it).  With calls == NULL the walk only counts.
 */
struct batch {
	struct BatchCall *calls;
	int n;		/* calls queued */
	int cap;	/* room in calls */
};

/* Page table entry of page pn, or 0 if its page table is absent. */
static pte_t
page_entry(unsigned pn)
{
	if (!(uvpd[pn / NPTENTRIES] & PTE_P))
		return 0;
	return uvpt[pn];
}

/*
 * Page fault handler installed by fork: a write to a copy-on-write page
 * gets a private, writable copy of the page, made through PFTEMP.  A spare
 * page is kept mapped at PFTEMP, so a copy costs the fault and one batch:
 * map the spare (now the copy) over the page and allocate the next spare.
 * Any other fault is a real error and panics, as does running out of
 * memory while copying.
 */
static void
pgfault(struct UTrapframe *utf)
{
	void *addr = (void *) utf->utf_fault_va;
	void *page = ROUNDDOWN(addr, PGSIZE);
	struct BatchCall calls[2] = {
		{ SYS_page_map, { 0, (uint32_t) PFTEMP, 0, (uint32_t) page, PTE_P | PTE_U | PTE_W } },
		{ SYS_page_alloc, { 0, (uint32_t) PFTEMP, PTE_P | PTE_U | PTE_W } },
	};
	int r;

	if (!(utf->utf_err & FEC_WR) || !(page_entry(PGNUM(addr)) & PTE_COW))
		panic("fork pgfault: va %08x ip %08x err %x: "
		      "not a write to a copy-on-write page",
		      addr, utf->utf_eip, utf->utf_err);

	/* No spare yet, or one that sys_fork shared copy-on-write: get one. */
	if (!(page_entry(PGNUM(PFTEMP)) & PTE_W)
	    && (r = sys_page_alloc(0, PFTEMP, PTE_P | PTE_U | PTE_W)) < 0)
		panic("fork pgfault: sys_page_alloc: %e", r);
	memmove(PFTEMP, page, PGSIZE);
	r = sys_batch(calls, 2, 0);
	if (r < 1 || calls[0].bc_result < 0)
		panic("fork pgfault: sys_page_map: %e", r < 0 ? r : calls[0].bc_result);
	/* The copy is in place.  Without a new spare, PFTEMP must not go on
	 * aliasing the page just copied: unmap it (that needs no memory). */
	if (calls[1].bc_result < 0 && (r = sys_page_unmap(0, PFTEMP)) < 0)
		panic("fork pgfault: sys_page_unmap: %e", r);
}

/*
 * Whether a page is writable memory we share with another env (sfork, or
 * a page received writable over IPC): its frame has more than one
 * reference.  Marking it copy-on-write would end that sharing for us, so
 * fork copies it for the child instead.
 */
static bool
shared_writable(pte_t pte)
{
	return (pte & PTE_W) && !(pte & (PTE_COW | PTE_SHARE))
		&& pages[PGNUM(PTE_ADDR(pte))].pp_ref > 1;
}

/* --- making or queueing calls ------------------------------------------ */

static int batch_flush(struct batch *b);

/* Queue one call (b->calls NULL: just count it).  Returns 0 or an error. */
static int
queue(struct batch *b, uint32_t num, uint32_t a1, uint32_t a2, uint32_t a3,
      uint32_t a4, uint32_t a5)
{
	struct BatchCall *c;
	int r;

	if (b->calls && b->n == b->cap && (r = batch_flush(b)) < 0)
		return r;
	if (b->calls) {
		c = &b->calls[b->n];
		c->bc_num = num;
		c->bc_args[0] = a1;
		c->bc_args[1] = a2;
		c->bc_args[2] = a3;
		c->bc_args[3] = a4;
		c->bc_args[4] = a5;
		c->bc_result = 0;
	}
	b->n++;
	return 0;
}

/* sys_page_map now (b NULL) or queued. */
static int
do_page_map(struct batch *b, envid_t src, void *srcva, envid_t dst, void *dstva, int perm)
{
	if (!b)
		return sys_page_map(src, srcva, dst, dstva, perm);
	return queue(b, SYS_page_map, src, (uint32_t) srcva, dst, (uint32_t) dstva, perm);
}

/* sys_page_alloc now (b NULL) or queued. */
static int
do_page_alloc(struct batch *b, envid_t envid, void *va, int perm)
{
	if (!b)
		return sys_page_alloc(envid, va, perm);
	return queue(b, SYS_page_alloc, envid, (uint32_t) va, perm, 0, 0);
}

/* sys_env_set_pgfault_upcall now (b NULL) or queued. */
static int
do_set_upcall(struct batch *b, envid_t envid, void *upcall)
{
	if (!b)
		return sys_env_set_pgfault_upcall(envid, upcall);
	return queue(b, SYS_env_set_pgfault_upcall, envid, (uint32_t) upcall, 0, 0, 0);
}

/* sys_env_set_status now (b NULL) or queued. */
static int
do_set_status(struct batch *b, envid_t envid, int status)
{
	if (!b)
		return sys_env_set_status(envid, status);
	return queue(b, SYS_env_set_status, envid, status, 0, 0, 0);
}

/* Send the queued calls.  Returns 0 or the first failed call's error. */
static int
batch_flush(struct batch *b)
{
	int ran;

	if (b->n == 0)
		return 0;
	ran = sys_batch(b->calls, b->n, 0);
	if (ran < 0)
		return ran;
	if (ran < b->n || b->calls[ran - 1].bc_result < 0)
		return ran > 0 ? b->calls[ran - 1].bc_result : -E_INVAL;
	b->n = 0;
	return 0;
}

/* Mapped pages at BATCHBUF, from the first. */
static int
batch_pages(void)
{
	int i;

	for (i = 0; i < BATCHBUF_PAGES; i++)
		if (!(page_entry(PGNUM(BATCHBUF + i * PGSIZE)) & PTE_P))
			break;
	return i;
}

/*
 * Make BATCHBUF big enough for b->n calls (at most BATCH_MAX; more are
 * sent in several batches) and empty the queue: the first page with one
 * call, any others with one batch built in the first.  Returns 0 or an error.
 */
static int
batch_reserve(struct batch *b)
{
	int have = batch_pages();
	int want = MIN(BATCHBUF_PAGES, (int) ROUNDUP(b->n + 1, CALLS_PER_PAGE) / CALLS_PER_PAGE);
	struct batch grow = { (struct BatchCall *) BATCHBUF, 0, CALLS_PER_PAGE };
	int r;

	if (have == 0) {
		if ((r = sys_page_alloc(0, (void *) BATCHBUF, PTE_P | PTE_U | PTE_W)) < 0)
			return r;
		have = 1;
	}
	for (; have < want; have++)
		if ((r = do_page_alloc(&grow, 0, (void *) (BATCHBUF + have * PGSIZE),
				       PTE_P | PTE_U | PTE_W)) < 0)
			return r;
	if ((r = batch_flush(&grow)) < 0)
		return r;
	b->calls = (struct BatchCall *) BATCHBUF;
	b->cap = MIN(have * (int) CALLS_PER_PAGE, BATCH_MAX);
	b->n = 0;
	return 0;
}

/* --- the page rules ------------------------------------------------------ */

/*
 * Give envid a private copy of our page at va, made now, with the page's
 * permissions (copy-on-write becomes writable): through UTEMP, which
 * nothing else in the library uses.  Returns 0 or an error.
 */
static int
copypage(envid_t envid, void *va, pte_t pte)
{
	int perm = (pte & PTE_SYSCALL & ~PTE_COW) | ((pte & PTE_COW) ? PTE_W : 0);
	int r;

	if ((r = sys_page_alloc(0, UTEMP, PTE_P | PTE_U | PTE_W)) < 0)
		return r;
	memmove(UTEMP, va, PGSIZE);
	if ((r = sys_page_map(0, UTEMP, envid, va, perm)) < 0)
		return r;
	fork_eager_copies++;
	return sys_page_unmap(0, UTEMP);
}

/*
 * Map our page pn into envid at the same address.  PTE_SHARE pages are
 * shared as they are; shared writable memory is copied for the child;
 * other writable and copy-on-write pages become copy-on-write in the
 * child and then in the parent.  (The other order breaks on the stack
 * page: the parent would write it between the two calls, fault, and give
 * the child its new private copy while keeping that copy writable.)
 * Read-only pages are shared read-only.  Returns 0 or a page_map error.
 */
static int
duppage(struct batch *b, envid_t envid, unsigned pn)
{
	void *va = (void *) (pn * PGSIZE);
	pte_t pte = uvpt[pn];
	int r;

	if (pte & PTE_SHARE)
		return do_page_map(b, 0, va, envid, va, pte & PTE_SYSCALL);
	if (shared_writable(pte))
		return (b && !b->calls) ? 0 : copypage(envid, va, pte);
	if (pte & (PTE_W | PTE_COW)) {
		r = do_page_map(b, 0, va, envid, va, PTE_P | PTE_U | PTE_COW);
		if (r < 0)
			return r;
		return do_page_map(b, 0, va, 0, va, PTE_P | PTE_U | PTE_COW);
	}
	return do_page_map(b, 0, va, envid, va, pte & PTE_SYSCALL);
}

/* The .thisenv page, kept private by sfork (see user.ld). */
extern char __private_start[], __private_end[];

/*
 * The lowest address of the stack region: the contiguous mapped pages
 * just below USTACKTOP.
 */
static uintptr_t
stack_bottom(void)
{
	uintptr_t va = USTACKTOP;

	while (va > UTEXT && (page_entry(PGNUM(va - PGSIZE)) & PTE_P))
		va -= PGSIZE;
	return va;
}

/* Whether page pn stays private (copy-on-write) under sfork. */
static bool
sfork_private(unsigned pn, uintptr_t stack_lo)
{
	uintptr_t va = pn * PGSIZE;

	return (va >= stack_lo && va < USTACKTOP)
		|| (va >= (uintptr_t) __private_start && va < (uintptr_t) __private_end);
}

/* Give envid our page pn according to mode.  Returns 0 or an error. */
static int
dup_one(struct batch *b, envid_t envid, unsigned pn, enum dup_mode mode, uintptr_t stack_lo)
{
	void *va = (void *) (pn * PGSIZE);
	pte_t pte = uvpt[pn];

	if (mode == DUP_SHARED && !sfork_private(pn, stack_lo))
		return do_page_map(b, 0, va, envid, va, pte & PTE_SYSCALL);
	if (mode == DUP_COPY && !(pte & PTE_SHARE))
		return copypage(envid, va, pte);
	return duppage(b, envid, pn);
}

/*
 * Give envid every present user page below the exception stack (but not
 * fork_batch's buffer nor pgfault's spare page), skipping absent page
 * tables.  Returns 0 or an
 * error.
 */
static int
dup_address_space(struct batch *b, envid_t envid, enum dup_mode mode)
{
	const unsigned npages = PGNUM(UXSTACKTOP - PGSIZE);
	uintptr_t stack_lo = mode == DUP_SHARED ? stack_bottom() : 0;
	unsigned pn;
	int r;

	for (pn = 0; pn < npages; pn++) {
		if (!(uvpd[pn / NPTENTRIES] & PTE_P)) {
			pn += NPTENTRIES - 1 - pn % NPTENTRIES;
			continue;
		}
		if ((uvpt[pn] & (PTE_P | PTE_U)) != (PTE_P | PTE_U))
			continue;
		if (pn * PGSIZE >= BATCHBUF && pn * PGSIZE < BATCHBUF_END)
			continue;  /* fork_batch's own buffer */
		if (pn == PGNUM(PFTEMP))
			continue;  /* pgfault's spare page */
		if ((r = dup_one(b, envid, pn, mode, stack_lo)) < 0)
			return r;
	}
	return 0;
}

/*
 * Give the new child envid its address space, its own exception stack and
 * our page fault upcall (when we have a handler), then start it.  Returns
 * 0 or an error.
 */
static int
start_child(struct batch *b, envid_t envid, enum dup_mode mode)
{
	int r;

	if ((r = dup_address_space(b, envid, mode)) < 0)
		return r;
	if (_pgfault_handler) {
		r = do_page_alloc(b, envid, (void *) (UXSTACKTOP - PGSIZE), PTE_P | PTE_U | PTE_W);
		if (r < 0)
			return r;
		if ((r = do_set_upcall(b, envid, _pgfault_upcall)) < 0)
			return r;
	}
	return do_set_status(b, envid, ENV_RUNNABLE);
}

/* --- the strategies ----------------------------------------------------------- */

/*
 * Create a child with sys_exofork and give it our address space (mode),
 * making the calls one by one or in batches.  Returns the child's id in
 * the parent and 0 in the child; on failure -E_NO_FREE_ENV or -E_NO_MEM
 * (the half-built child is destroyed).
 */
static envid_t
fork_common(enum dup_mode mode, bool batched)
{
	struct batch b = { NULL, 0, 0 };
	envid_t envid;
	int r;

	if (mode != DUP_COPY)
		set_pgfault_handler(pgfault);
	envid = sys_exofork();
	if (envid < 0)
		return envid;
	if (envid == 0) {
		/* Our own .thisenv page: this write copies it. */
		thisenv = &envs[ENVX(sys_getenvid())];
		return 0;
	}
	if (batched) {
		start_child(&b, envid, mode);  /* count the calls */
		if ((r = batch_reserve(&b)) < 0)
			goto fail;
	}
	if ((r = start_child(batched ? &b : NULL, envid, mode)) < 0)
		goto fail;
	if (batched && (r = batch_flush(&b)) < 0)
		goto fail;
	return envid;
fail:
	sys_env_destroy(envid);
	return r;
}

/* Copy-on-write fork, one system call per page (JOS's). */
envid_t
fork_cow(void)
{
	return fork_common(DUP_COW, 0);
}

/* Copy-on-write fork whose page mappings go through sys_batch. */
envid_t
fork_batch(void)
{
	return fork_common(DUP_COW, 1);
}

/* Eager fork: the child gets a copy of every page now. */
envid_t
fork_dumb(void)
{
	return fork_common(DUP_COPY, 0);
}

/* The kernel's atomic copy-on-write fork (sys_fork_how), in one trap. */
static envid_t
fork_in_kernel(int how)
{
	envid_t envid;

	set_pgfault_handler(pgfault);
	envid = sys_fork_how(how);
	if (envid == 0)
		thisenv = &envs[ENVX(sys_getenvid())];
	return envid;
}

/* sys_fork: the kernel copies the page tables. */
envid_t
fork_kernel(void)
{
	return fork_in_kernel(FORK_HOW_COPY);
}

/* On-demand fork: the kernel shares the page tables until one is written. */
envid_t
fork_odf(void)
{
	return fork_in_kernel(FORK_HOW_ODF);
}

/* A child that is a copy of this environment, made by pyjos_fork_strategy. */
envid_t
fork(void)
{
	switch (pyjos_fork_strategy) {
	case FORK_DUMB:
		return fork_dumb();
	case FORK_BATCH:
		return fork_batch();
	case FORK_KERNEL:
		return fork_kernel();
	case FORK_ODF:
		return fork_odf();
	default:
		return fork_cow();
	}
}

/*
 * Shared-memory fork (a JOS lab 4 challenge): parent and child share every
 * page (writes in one appear in the other) except the stack region and the
 * .thisenv page, which are copy-on-write, and the exception stack, which
 * is fresh.  thisenv stays right in both because it lives alone on that
 * private page.
 */
envid_t
sfork(void)
{
	return fork_common(DUP_SHARED, 0);
}
