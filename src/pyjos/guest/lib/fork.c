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
 * Map our page pn into envid at the same address.  PTE_SHARE pages are
 * shared as they are; writable and copy-on-write pages become
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
	if (pte & (PTE_W | PTE_COW)) {
		r = sys_page_map(0, va, envid, va, PTE_P | PTE_U | PTE_COW);
		if (r < 0)
			return r;
		return sys_page_map(0, va, 0, va, PTE_P | PTE_U | PTE_COW);
	}
	return sys_page_map(0, va, envid, va, pte & PTE_SYSCALL);
}

/*
 * Share every present user page below the exception stack with envid,
 * skipping the page tables that are absent.  Returns 0 or an error.
 */
static int
dup_address_space(envid_t envid)
{
	const unsigned npages = PGNUM(UXSTACKTOP - PGSIZE);
	unsigned pn;
	int r;

	for (pn = 0; pn < npages; pn++) {
		if (!(uvpd[pn / NPTENTRIES] & PTE_P)) {
			pn += NPTENTRIES - 1 - pn % NPTENTRIES;
			continue;
		}
		if ((uvpt[pn] & (PTE_P | PTE_U)) != (PTE_P | PTE_U))
			continue;
		if ((r = duppage(envid, pn)) < 0)
			return r;
	}
	return 0;
}

/*
 * Give the new child envid a copy-on-write copy of our address space,
 * its own exception stack and our page fault upcall, then start it.
 * Returns 0 or an error.
 */
static int
start_child(envid_t envid)
{
	int r;

	if ((r = dup_address_space(envid)) < 0)
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
 * Create a child that is a copy-on-write copy of this environment.
 * Returns the child's id in the parent and 0 in the child.  On failure,
 * returns -E_NO_FREE_ENV or -E_NO_MEM (the half-built child is destroyed).
 */
envid_t
fork(void)
{
	envid_t envid;
	int r;

	set_pgfault_handler(pgfault);
	envid = sys_exofork();
	if (envid < 0)
		return envid;
	if (envid == 0) {
		thisenv = &envs[ENVX(sys_getenvid())];
		return 0;
	}
	if ((r = start_child(envid)) < 0) {
		sys_env_destroy(envid);
		return r;
	}
	return envid;
}

/*
 * Shared-memory fork (a JOS challenge): parent and child share all memory
 * except the stack and the .thisenv page.  Not implemented yet; a later
 * change adds it.  Returns -E_INVAL.
 */
envid_t
sfork(void)
{
	return -E_INVAL;
}
