/*
 * A student's lib/fork.c for the tests of `pyjos grade --jos`: a plain
 * copy-on-write fork as the lab asks, written against the contracts of
 * `pyjos init`'s skeleton.  tests/test_grade.py also breaks it on purpose
 * (by deleting the MAKE_RUNNABLE line) to see the grader fail it.
 */
#include <inc/lib.h>

static void
pgfault(struct UTrapframe *utf)
{
	void *addr = ROUNDDOWN((void *) utf->utf_fault_va, PGSIZE);
	int r;

	if (!(utf->utf_err & FEC_WR) || !(uvpt[PGNUM(addr)] & PTE_COW))
		panic("pgfault: va %08x is not a write to a copy-on-write page",
		      utf->utf_fault_va);
	if ((r = sys_page_alloc(0, PFTEMP, PTE_P | PTE_U | PTE_W)) < 0)
		panic("pgfault: sys_page_alloc: %e", r);
	memmove(PFTEMP, addr, PGSIZE);
	if ((r = sys_page_map(0, PFTEMP, 0, addr, PTE_P | PTE_U | PTE_W)) < 0)
		panic("pgfault: sys_page_map: %e", r);
	if ((r = sys_page_unmap(0, PFTEMP)) < 0)
		panic("pgfault: sys_page_unmap: %e", r);
}

static int
duppage(envid_t envid, unsigned pn)
{
	void *va = (void *) (pn * PGSIZE);
	int r;

	if (!(uvpt[pn] & (PTE_W | PTE_COW)))
		return sys_page_map(0, va, envid, va, PTE_P | PTE_U);
	if ((r = sys_page_map(0, va, envid, va, PTE_P | PTE_U | PTE_COW)) < 0)
		return r;
	return sys_page_map(0, va, 0, va, PTE_P | PTE_U | PTE_COW);
}

envid_t
fork(void)
{
	envid_t child;
	unsigned pn;
	int r;

	set_pgfault_handler(pgfault);
	if ((child = sys_exofork()) < 0)
		return child;
	if (child == 0) {
		thisenv = &envs[ENVX(sys_getenvid())];
		return 0;
	}
	for (pn = 0; pn < PGNUM(USTACKTOP); pn++) {
		if (!(uvpd[pn / NPTENTRIES] & PTE_P)) {
			pn += NPTENTRIES - 1;	/* no page table: skip its pages */
			continue;
		}
		if ((uvpt[pn] & PTE_P) && (r = duppage(child, pn)) < 0)
			panic("fork: duppage: %e", r);
	}
	if ((r = sys_page_alloc(child, (void *) (UXSTACKTOP - PGSIZE),
				PTE_P | PTE_U | PTE_W)) < 0)
		panic("fork: exception stack: %e", r);
	if ((r = sys_env_set_pgfault_upcall(child, _pgfault_upcall)) < 0)
		panic("fork: upcall: %e", r);
	if ((r = sys_env_set_status(child, ENV_RUNNABLE)) < 0)	/* MAKE_RUNNABLE */
		panic("fork: set status: %e", r);
	return child;
}

envid_t
sfork(void)
{
	panic("sfork not implemented");
	return -E_INVAL;
}
