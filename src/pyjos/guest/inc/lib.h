/*
 * The user-level library: everything a JOS user program sees.
 * Programs include only this file and define umain().
 */
#ifndef JOS_INC_LIB_H
#define JOS_INC_LIB_H 1

#include <inc/types.h>
#include <inc/stdio.h>
#include <inc/stdarg.h>
#include <inc/string.h>
#include <inc/error.h>
#include <inc/assert.h>
#include <inc/env.h>
#include <inc/memlayout.h>
#include <inc/syscall.h>
#include <inc/trap.h>

/* Mark a variable as used to silence the compiler. */
#define USED(x)		(void)(x)

/* The program's main function, called by libmain. */
void	umain(int argc, char **argv);

/* lib/libmain.c, lib/entry.S */
extern const char *binaryname;
extern const volatile struct Env *thisenv;
extern const volatile struct Env envs[NENV];
extern const volatile struct PageInfo pages[];

/* lib/exit.c */
void	exit(void);

/* lib/pgfault.c */
void	set_pgfault_handler(void (*handler)(struct UTrapframe *utf));

/* lib/pfentry.S: the entry point registered with the kernel. */
void	_pgfault_upcall(void);

/* lib/syscall.c */
void	sys_cputs(const char *string, size_t len);
int	sys_cgetc(void);
envid_t	sys_getenvid(void);
int	sys_env_destroy(envid_t envid);
void	sys_yield(void);
static envid_t sys_exofork(void);
int	sys_env_set_status(envid_t envid, int status);
int	sys_env_set_pgfault_upcall(envid_t envid, void *upcall);
int	sys_page_alloc(envid_t envid, void *va, int perm);
int	sys_page_map(envid_t srcenv, void *srcva, envid_t dstenv, void *dstva, int perm);
int	sys_page_unmap(envid_t envid, void *va);
int	sys_ipc_try_send(envid_t to_env, uint32_t value, void *srcva, int perm);
int	sys_ipc_recv(void *dstva);

/*
 * Create a child environment with a copy of our registers, and return its
 * id in the parent and 0 in the child.  It must be inlined: the child
 * resumes after the trap with the parent's registers but receives the
 * parent's stack only later, when the parent copies it; by then the frame
 * of a called sys_exofork would have been overwritten.
 * Returns -E_NO_FREE_ENV or -E_NO_MEM on failure.
 */
static inline envid_t __attribute__((always_inline))
sys_exofork(void)
{
	envid_t ret;
	asm volatile("int %2"
		     : "=a" (ret)
		     : "a" (SYS_exofork), "i" (T_SYSCALL)
		     : "cc", "memory");
	return ret;
}

/* lib/ipc.c */
void	ipc_send(envid_t to_env, uint32_t value, void *pg, int perm);
int32_t	ipc_recv(envid_t *from_env_store, void *pg, int *perm_store);
envid_t	ipc_find_env(enum EnvType type);

/* lib/syscall.c: pyjos's own calls */
struct BatchCall;
int	sys_batch(struct BatchCall *calls, int ncalls, int flags);
envid_t	sys_fork(void);
/* sys_fork's argument: how (0 = copy the page tables, as sys_fork()) */
#define FORK_HOW_COPY	0
#define FORK_HOW_ODF	1	/* share page tables copy-on-write (kern odf.py) */
envid_t	sys_fork_how(int how);

/* lib/fork.c */
#define PTE_SHARE	0x400	/* fork shares the page instead of copying it */
#define PTE_COW		0x800	/* fork shared the page copy-on-write */
envid_t	fork(void);
envid_t	sfork(void);

/*
 * What fork() does (pyjos).  The default is FORK_COW; `pyjos run --fork NAME`
 * makes the loader store another value in pyjos_fork_strategy before the
 * program starts.  Each strategy can also be called by name.
 */
enum fork_strategy {
	FORK_DUMB = 0,		/* eager copy of every page */
	FORK_COW = 1,		/* user-level copy-on-write, one call per page (JOS) */
	FORK_BATCH = 2,		/* the same, sent in batches (inc/batch.h) */
	FORK_KERNEL = 3,	/* sys_fork: the kernel does it in one trap */
	FORK_ODF = 4,		/* sys_fork_how(FORK_HOW_ODF): on-demand fork, page tables shared */
};
extern int pyjos_fork_strategy;
extern int fork_eager_copies;	/* pages copied for children at fork time */
envid_t	fork_dumb(void);
envid_t	fork_cow(void);
envid_t	fork_batch(void);
envid_t	fork_kernel(void);
envid_t	fork_odf(void);
extern void (*_pgfault_handler)(struct UTrapframe *utf);

#endif /* !JOS_INC_LIB_H */
