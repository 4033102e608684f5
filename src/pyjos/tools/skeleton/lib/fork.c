/*
 * lib/fork.c: copy-on-write fork in user space (JOS lab 4, part B).
 * Yours to write: pgfault, duppage and fork.  `pyjos grade lab4 --jos .`
 * fails faultalloc-style and fork tests until they work.
 *
 * Tools: uvpd[] and uvpt[] (inc/memlayout.h) are this env's page directory
 * and page tables, read-only; PGNUM(va) is the index of va's entry in
 * uvpt[], PDX(va) of its table in uvpd[].  PFTEMP is a free address for
 * temporary mappings.  PTE_COW (inc/lib.h) is an available PTE bit that
 * marks a page shared copy-on-write.
 */
#include <inc/lib.h>

/*
 * The page fault handler of every env fork made (and of the parent).
 * utf->utf_fault_va is the address; utf->utf_err has FEC_WR for a write.
 *
 * Contract:
 *   - A fault that is not a write to a PTE_COW page is a real error: panic,
 *     naming the address.
 *   - Otherwise give this env a private, writable copy of the whole page
 *     holding the address: allocate a page at PFTEMP, copy the faulting page
 *     into it, map it over the faulting page (PTE_P | PTE_U | PTE_W), then
 *     unmap PFTEMP.  Three system calls; panic if one fails.
 * Returning resumes the faulting instruction.
 */
static void
pgfault(struct UTrapframe *utf)
{
	panic("pgfault not implemented (lib/fork.c)");
}

/*
 * Give env envid our page number pn, at the same address.
 *
 * Contract:
 *   - A writable or copy-on-write page is mapped in the child with PTE_COW
 *     and without PTE_W, and then remapped the same way in this env (think
 *     about why the child's mapping must come first).
 *   - A read-only page is simply mapped read-only.
 *   - Returns 0, or the negative error of a failed sys_page_map.
 */
static int
duppage(envid_t envid, unsigned pn)
{
	panic("duppage not implemented (lib/fork.c)");
}

/*
 * Create a child that is a copy-on-write copy of this env.
 *
 * Contract:
 *   - Install pgfault as this env's handler (set_pgfault_handler).
 *   - sys_exofork() makes the child.  In the child it returns 0: point
 *     thisenv at the child's own struct Env and return 0.
 *   - In the parent, duppage every present page below USTACKTOP (check the
 *     page table's presence in uvpd before reading uvpt).  The exception
 *     stack page just below UXSTACKTOP is never shared: allocate the child
 *     a fresh one.
 *   - Give the child the page-fault upcall (_pgfault_upcall), then mark it
 *     ENV_RUNNABLE: until then it never runs.
 *   - Return the child's id to the parent; panic, or return a negative
 *     error, if anything fails.
 */
envid_t
fork(void)
{
	panic("fork not implemented (lib/fork.c)");
}

/* Challenge: a fork that shares all memory except the stack. */
envid_t
sfork(void)
{
	panic("sfork not implemented (lib/fork.c)");
	return -E_INVAL;
}
