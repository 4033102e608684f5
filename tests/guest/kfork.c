/*
 * kfork: sys_fork: returns twice; the child's pages (writable, read-only,
 * PTE_SHARE, exception stack) and its upcall.
 */
#include <inc/lib.h>

#define PUW	(PTE_P | PTE_U | PTE_W)
#define RW	((volatile int *) 0x10000000)	/* writable */
#define RO	((volatile int *) 0x10001000)	/* read-only */
#define SH	((volatile int *) 0x10002000)	/* PTE_SHARE, writable */
#define XSTACK	(UXSTACKTOP - PGSIZE)

int data_var = 7;

static unsigned
frame(uintptr_t va)
{
	return PTE_ADDR(uvpt[PGNUM(va)]);
}

static unsigned
perm(uintptr_t va)
{
	return uvpt[PGNUM(va)] & PTE_SYSCALL;
}

/* Check every present user page below the exception stack: writable ones
 * must be PTE_SHARE, or pages this env wrote since the fork (its stack,
 * .thisenv page, the pgfault spare); none may be both writable and COW. */
static void
walk(const char *who, uintptr_t stack_lo)
{
	uintptr_t va, thisenv_page = ROUNDDOWN((uintptr_t) &thisenv, PGSIZE);
	int cow = 0, bad = 0;

	for (va = 0; va < XSTACK; va += PGSIZE) {
		pte_t pte;

		if (!(uvpd[PDX(va)] & PTE_P)) {
			va += PTSIZE - PGSIZE;
			continue;
		}
		pte = uvpt[PGNUM(va)];
		if (!(pte & PTE_P))
			continue;
		if ((pte & PTE_W) && (pte & PTE_COW)) {
			cprintf("%s: page %08x is writable and copy-on-write\n", who, va);
			bad++;
		}
		cow += !!(pte & PTE_COW);
		if ((pte & PTE_W) && !(pte & PTE_SHARE) && !(va >= stack_lo && va < USTACKTOP)
		    && va != thisenv_page && va != (uintptr_t) PFTEMP) {
			cprintf("%s: page %08x is writable\n", who, va);
			bad++;
		}
	}
	cprintf("%s: walk cow pages %d bad %d\n", who, cow, bad);
}

void
umain(int argc, char **argv)
{
	volatile int local = 1;
	envid_t id;
	int r;

	if ((r = sys_page_alloc(0, (void *) RW, PUW)) < 0
	    || (r = sys_page_alloc(0, (void *) RO, PUW)) < 0
	    || (r = sys_page_alloc(0, (void *) SH, PUW | PTE_SHARE)) < 0)
		panic("sys_page_alloc: %e", r);
	*RW = 11;
	*RO = 22;
	*SH = 33;
	if ((r = sys_page_map(0, (void *) RO, 0, (void *) RO, PTE_P | PTE_U)) < 0)
		panic("sys_page_map: %e", r);

	id = fork_kernel();
	if (id < 0)
		panic("fork_kernel: %e", id);
	if (id == 0) {
		cprintf("child: fork returned 0, I am %08x, parent %08x\n", sys_getenvid(),
			thisenv->env_parent_id);
		cprintf("child: upcall %08x lib %08x\n", thisenv->env_pgfault_upcall,
			(uintptr_t) _pgfault_upcall);
		cprintf("child: xstack %08x perm %03x\n", frame(XSTACK), perm(XSTACK));
		cprintf("child: rw %08x perm %03x ro %08x perm %03x sh %08x perm %03x "
			"data %08x perm %03x\n",
			frame((uintptr_t) RW), perm((uintptr_t) RW), frame((uintptr_t) RO),
			perm((uintptr_t) RO), frame((uintptr_t) SH), perm((uintptr_t) SH),
			frame((uintptr_t) &data_var), perm((uintptr_t) &data_var));
		cprintf("child: sees %d %d %d %d %d\n", *RW, *RO, *SH, data_var, local);
		walk("child", ROUNDDOWN((uintptr_t) &local, PGSIZE));
		*SH = 44;
		*RW = 55;
		data_var = 66;
		cprintf("child: after writes rw %08x perm %03x\n", frame((uintptr_t) RW),
			perm((uintptr_t) RW));
		return;
	}
	cprintf("parent: child %08x\n", id);
	cprintf("parent: upcall %08x\n", thisenv->env_pgfault_upcall);
	cprintf("parent: xstack %08x perm %03x\n", frame(XSTACK), perm(XSTACK));
	cprintf("parent: rw %08x perm %03x ro %08x perm %03x sh %08x perm %03x "
		"data %08x perm %03x\n",
		frame((uintptr_t) RW), perm((uintptr_t) RW), frame((uintptr_t) RO),
		perm((uintptr_t) RO), frame((uintptr_t) SH), perm((uintptr_t) SH),
		frame((uintptr_t) &data_var), perm((uintptr_t) &data_var));
	walk("parent", ROUNDDOWN((uintptr_t) &local, PGSIZE));
	while (envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE)
		sys_yield();
	cprintf("parent: sees %d %d %d %d %d\n", *RW, *RO, *SH, data_var, local);
}
