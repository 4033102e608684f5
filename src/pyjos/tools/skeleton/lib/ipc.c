/*
 * lib/ipc.c: inter-environment communication on top of sys_ipc_recv and
 * sys_ipc_try_send (JOS lab 4, part C).  Yours to write: ipc_recv and
 * ipc_send.
 */
#include <inc/lib.h>

/*
 * Wait for a message and return its value.
 *
 * Contract:
 *   - pg is where a page sent along should be mapped; NULL means no page
 *     is wanted (pass the kernel an address it understands as "none",
 *     e.g. UTOP, not 0, which is a valid address).
 *   - On success store the sender's id in *from_env_store and the page's
 *     permissions (0 if none came) in *perm_store, for each of those
 *     pointers that is not NULL; the values are in thisenv->env_ipc_*.
 *   - On failure store 0 through both and return the error.
 */
int32_t
ipc_recv(envid_t *from_env_store, void *pg, int *perm_store)
{
	panic("ipc_recv not implemented (lib/ipc.c)");
	return 0;
}

/*
 * Send val (and the page at pg with permissions perm, unless pg is NULL)
 * to env to_env.
 *
 * Contract:
 *   - While the receiver is not waiting (-E_IPC_NOT_RECV), yield and try
 *     again; be kind to the CPU.
 *   - Any other error is fatal: panic with it.
 */
void
ipc_send(envid_t to_env, uint32_t val, void *pg, int perm)
{
	panic("ipc_send not implemented (lib/ipc.c)");
}

/* The id of the first env of the given type, or 0 if there is none (given). */
envid_t
ipc_find_env(enum EnvType type)
{
	int i;

	for (i = 0; i < NENV; i++)
		if (envs[i].env_type == type)
			return envs[i].env_id;
	return 0;
}
