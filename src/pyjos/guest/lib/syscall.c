/* System call stubs: one C function per kernel system call. */
#include <inc/syscall.h>
#include <inc/lib.h>

/*
 * Trap into the kernel with system call num and up to five arguments
 * (in edx, ecx, ebx, edi, esi) and return its eax.  When check is set, a
 * positive result is a kernel bug and panics.
 */
static int32_t
syscall(int num, int check, uint32_t a1, uint32_t a2, uint32_t a3,
	uint32_t a4, uint32_t a5)
{
	int32_t ret;

	asm volatile("int %1"
		     : "=a" (ret)
		     : "i" (T_SYSCALL), "a" (num), "d" (a1), "c" (a2),
		       "b" (a3), "D" (a4), "S" (a5)
		     : "cc", "memory");
	if (check && ret > 0)
		panic("syscall %d returned %d (> 0)", num, ret);
	return ret;
}

/* Print len bytes at s on the console; a bad buffer kills the caller. */
void
sys_cputs(const char *s, size_t len)
{
	syscall(SYS_cputs, 0, (uint32_t) s, len, 0, 0, 0);
}

/* A console character, or 0 if none is waiting. */
int
sys_cgetc(void)
{
	return syscall(SYS_cgetc, 0, 0, 0, 0, 0, 0);
}

/* Destroy envid (0: the caller); -E_BAD_ENV if it is not ours to destroy. */
int
sys_env_destroy(envid_t envid)
{
	return syscall(SYS_env_destroy, 1, envid, 0, 0, 0, 0);
}

/* The caller's env id. */
envid_t
sys_getenvid(void)
{
	return syscall(SYS_getenvid, 0, 0, 0, 0, 0, 0);
}

/* Give up the CPU to another runnable environment. */
void
sys_yield(void)
{
	syscall(SYS_yield, 0, 0, 0, 0, 0, 0);
}

/* Map a fresh zeroed page at va in envid with perm.
 * -E_BAD_ENV, -E_INVAL (va or perm), -E_NO_MEM. */
int
sys_page_alloc(envid_t envid, void *va, int perm)
{
	return syscall(SYS_page_alloc, 1, envid, (uint32_t) va, perm, 0, 0);
}

/* Map srcenv's page at srcva into dstenv at dstva with perm.
 * -E_BAD_ENV, -E_INVAL (addresses, perm, or write to a read-only page),
 * -E_NO_MEM. */
int
sys_page_map(envid_t srcenv, void *srcva, envid_t dstenv, void *dstva, int perm)
{
	return syscall(SYS_page_map, 1, srcenv, (uint32_t) srcva,
		       dstenv, (uint32_t) dstva, perm);
}

/* Unmap the page at va in envid (no-op if none).  -E_BAD_ENV, -E_INVAL. */
int
sys_page_unmap(envid_t envid, void *va)
{
	return syscall(SYS_page_unmap, 1, envid, (uint32_t) va, 0, 0, 0);
}

/* Set envid's status to ENV_RUNNABLE or ENV_NOT_RUNNABLE.
 * -E_BAD_ENV, -E_INVAL. */
int
sys_env_set_status(envid_t envid, int status)
{
	return syscall(SYS_env_set_status, 1, envid, status, 0, 0, 0);
}

/* Set envid's page fault upcall entry point.  -E_BAD_ENV. */
int
sys_env_set_pgfault_upcall(envid_t envid, void *upcall)
{
	return syscall(SYS_env_set_pgfault_upcall, 1, envid,
		       (uint32_t) upcall, 0, 0, 0);
}

/* Send value (and, if srcva < UTOP, the page at srcva with perm) to envid.
 * -E_IPC_NOT_RECV if it is not receiving; -E_BAD_ENV, -E_INVAL, -E_NO_MEM. */
int
sys_ipc_try_send(envid_t envid, uint32_t value, void *srcva, int perm)
{
	return syscall(SYS_ipc_try_send, 0, envid, value, (uint32_t) srcva,
		       perm, 0);
}

/* Block until a message arrives; a page sent is mapped at dstva if
 * dstva < UTOP.  The message lands in thisenv->env_ipc_*.  -E_INVAL. */
int
sys_ipc_recv(void *dstva)
{
	return syscall(SYS_ipc_recv, 1, (uint32_t) dstva, 0, 0, 0, 0);
}

/* Run ncalls calls in one trap; see inc/batch.h.  The number that ran,
 * or -E_INVAL, -E_FAULT, -E_NO_MEM. */
int
sys_batch(struct BatchCall *calls, int ncalls, int flags)
{
	return syscall(SYS_batch, 0, (uint32_t) calls, ncalls, flags, 0, 0);
}

/* Atomic in-kernel copy-on-write fork: the child's id in the parent, 0 in
 * the child.  (Unlike sys_exofork this may be a called function: the child
 * starts from a copy-on-write snapshot of the stack taken in the trap.)
 * -E_NO_FREE_ENV, -E_NO_MEM. */
envid_t
sys_fork(void)
{
	return sys_fork_how(FORK_HOW_COPY);
}

envid_t
sys_fork_how(int how)
{
	return syscall(SYS_fork, 0, how, 0, 0, 0, 0);
}
