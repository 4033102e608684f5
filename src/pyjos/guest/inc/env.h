/* Environments (JOS's processes) as the kernel publishes them in envs[]. */
#ifndef JOS_INC_ENV_H
#define JOS_INC_ENV_H

#include <inc/types.h>
#include <inc/trap.h>
#include <inc/memlayout.h>

typedef int32_t envid_t;

/*
 * An environment id has three parts:
 *
 * +1+---------------21-----------------+--------10--------+
 * |0|          Uniqueifier             |   Environment    |
 * | |                                  |      Index       |
 * +------------------------------------+------------------+
 *                                       \--- ENVX(eid) --/
 *
 * The index selects the slot in envs[]; the uniqueifier tells apart the
 * environments that used the same slot over time.  Ids are positive; a
 * negative value is an error, and 0 in a system call means "myself".
 */

#define LOG2NENV	10
#define NENV		(1 << LOG2NENV)
#define ENVX(envid)	((envid) & (NENV - 1))

/* Values of env_status. */
enum {
	ENV_FREE = 0,
	ENV_DYING,
	ENV_RUNNABLE,
	ENV_RUNNING,
	ENV_NOT_RUNNABLE
};

/* Special environment types. */
enum EnvType {
	ENV_TYPE_USER = 0,
};

/* One environment (124 bytes; offsets are part of the ABI). */
struct Env {
	struct Trapframe env_tf;	/* saved registers */
	struct Env *env_link;		/* next free Env */
	envid_t env_id;			/* unique id */
	envid_t env_parent_id;		/* env_id of the creator */
	enum EnvType env_type;		/* special system environments */
	unsigned env_status;		/* ENV_* above */
	uint32_t env_runs;		/* times this env has run */
	int env_cpunum;			/* CPU the env is running on */

	/* Address space */
	pde_t *env_pgdir;		/* kernel virtual address of page dir */

	/* Exception handling */
	void *env_pgfault_upcall;	/* page fault upcall entry point */

	/* IPC */
	bool env_ipc_recving;		/* blocked in sys_ipc_recv */
	void *env_ipc_dstva;		/* where to map a received page */
	uint32_t env_ipc_value;		/* value sent to us */
	envid_t env_ipc_from;		/* envid of the sender */
	int env_ipc_perm;		/* perm of the page mapping received */
};

#endif /* !JOS_INC_ENV_H */
