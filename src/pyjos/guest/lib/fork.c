/*
 * Copy-on-write fork, implemented in user space on top of exofork,
 * page_map and a user-level page fault handler.
 */
#include <inc/lib.h>

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
 * gets a private, writable copy of the page.  Any other fault is a real
 * error and panics, as does running out of memory while copying.
 */
static void
pgfault(struct UTrapframe *utf)
{
	void *addr = (void *) utf->utf_fault_va;
	void *page = ROUNDDOWN(addr, PGSIZE);
	int r;

	if (!(utf->utf_err & FEC_WR) || !(page_entry(PGNUM(addr)) & PTE_COW))
		panic("fork pgfault: va %08x ip %08x err %x: "
		      "not a write to a copy-on-write page",
		      addr, utf->utf_eip, utf->utf_err);

	if ((r = sys_page_alloc(0, PFTEMP, PTE_P | PTE_U | PTE_W)) < 0)
		panic("fork pgfault: sys_page_alloc: %e", r);
	memmove(PFTEMP, page, PGSIZE);
	if ((r = sys_page_map(0, PFTEMP, 0, page, PTE_P | PTE_U | PTE_W)) < 0)
		panic("fork pgfault: sys_page_map: %e", r);
	if ((r = sys_page_unmap(0, PFTEMP)) < 0)
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

/*
 * Give envid a private copy of our page at va, made now (through UTEMP,
 * which nothing else in the library uses).  Returns 0 or an error.
 */
static int
copypage(envid_t envid, void *va)
{
	int r;

	if ((r = sys_page_alloc(envid, va, PTE_P | PTE_U | PTE_W)) < 0)
		return r;
	if ((r = sys_page_map(envid, va, 0, UTEMP, PTE_P | PTE_U | PTE_W)) < 0)
		return r;
	memmove(UTEMP, va, PGSIZE);
	return sys_page_unmap(0, UTEMP);
}

/*
 * Map our page pn into envid at the same address.  PTE_SHARE pages are
 * shared as they are; shared writable memory is copied for the child;
 * other writable and copy-on-write pages become
 * copy-on-write in the child and then in the parent.  (The other order
 * breaks on the stack page: the parent would write it between the two
 * calls, fault, and give the child its new private copy while keeping
 * that copy writable.)
 * Read-only pages are shared read-only.  Returns 0 or a page_map error.
 */
static int
duppage(envid_t envid, unsigned pn)
{
	void *va = (void *) (pn * PGSIZE);
	pte_t pte = uvpt[pn];
	int r;

	if (pte & PTE_SHARE)
		return sys_page_map(0, va, envid, va, pte & PTE_SYSCALL);
	if (shared_writable(pte))
		return copypage(envid, va);
	if (pte & (PTE_W | PTE_COW)) {
		r = sys_page_map(0, va, envid, va, PTE_P | PTE_U | PTE_COW);
		if (r < 0)
			return r;
		return sys_page_map(0, va, 0, va, PTE_P | PTE_U | PTE_COW);
	}
	return sys_page_map(0, va, envid, va, pte & PTE_SYSCALL);
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

/*
 * Map page pn into envid sharing the frame with the same permissions
 * (writable stays writable and shared, copy-on-write stays
 * copy-on-write).  Returns 0 or a page_map error.
 */
static int
sharepage(envid_t envid, unsigned pn)
{
	void *va = (void *) (pn * PGSIZE);

	return sys_page_map(0, va, envid, va, uvpt[pn] & PTE_SYSCALL);
}

/*
 * Give envid every present user page below the exception stack, skipping
 * absent page tables: copy-on-write (fork), or shared except the private
 * pages (sfork).  Returns 0 or an error.
 */
static int
dup_address_space(envid_t envid, bool shared)
{
	const unsigned npages = PGNUM(UXSTACKTOP - PGSIZE);
	uintptr_t stack_lo = shared ? stack_bottom() : 0;
	unsigned pn;
	int r;

	for (pn = 0; pn < npages; pn++) {
		if (!(uvpd[pn / NPTENTRIES] & PTE_P)) {
			pn += NPTENTRIES - 1 - pn % NPTENTRIES;
			continue;
		}
		if ((uvpt[pn] & (PTE_P | PTE_U)) != (PTE_P | PTE_U))
			continue;
		if (shared && !sfork_private(pn, stack_lo))
			r = sharepage(envid, pn);
		else
			r = duppage(envid, pn);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Give the new child envid its address space (see dup_address_space),
 * its own exception stack and our page fault upcall, then start it.
 * Returns 0 or an error.
 */
static int
start_child(envid_t envid, bool shared)
{
	int r;

	if ((r = dup_address_space(envid, shared)) < 0)
		return r;
	r = sys_page_alloc(envid, (void *) (UXSTACKTOP - PGSIZE),
			   PTE_P | PTE_U | PTE_W);
	if (r < 0)
		return r;
	if ((r = sys_env_set_pgfault_upcall(envid, _pgfault_upcall)) < 0)
		return r;
	return sys_env_set_status(envid, ENV_RUNNABLE);
}

/*
 * fork (shared = 0) and sfork (shared = 1).  Returns the child's id in the
 * parent and 0 in the child.  On failure, returns -E_NO_FREE_ENV or
 * -E_NO_MEM (the half-built child is destroyed).
 */
static envid_t
fork_common(bool shared)
{
	envid_t envid;
	int r;

	set_pgfault_handler(pgfault);
	envid = sys_exofork();
	if (envid < 0)
		return envid;
	if (envid == 0) {
		/* Our own .thisenv page: this write copies it. */
		thisenv = &envs[ENVX(sys_getenvid())];
		return 0;
	}
	if ((r = start_child(envid, shared)) < 0) {
		sys_env_destroy(envid);
		return r;
	}
	return envid;
}

/* A child that is a copy-on-write copy of this environment. */
envid_t
fork(void)
{
	return fork_common(0);
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
	return fork_common(1);
}
