/* Inter-environment communication on top of the ipc system calls. */
#include <inc/lib.h>

/*
 * Wait for a message and return its 32-bit value.  If pg is not NULL, a
 * page sent with the message is mapped there.  The sender's id and the
 * page's permissions (0 if no page came) are stored through
 * from_env_store and perm_store when those are not NULL.  On error both
 * are set to 0 and the error (-E_INVAL for a bad pg) is returned.
 */
int32_t
ipc_recv(envid_t *from_env_store, void *pg, int *perm_store)
{
	int r = sys_ipc_recv(pg != NULL ? pg : (void *) UTOP);

	if (from_env_store)
		*from_env_store = r < 0 ? 0 : thisenv->env_ipc_from;
	if (perm_store)
		*perm_store = r < 0 ? 0 : thisenv->env_ipc_perm;
	return r < 0 ? r : (int32_t) thisenv->env_ipc_value;
}

/*
 * Send val, and the page at pg with perm if pg is not NULL, to env
 * to_env, yielding until it is ready to receive.  Panics on any error
 * other than the receiver being busy.
 */
void
ipc_send(envid_t to_env, uint32_t val, void *pg, int perm)
{
	int r;

	while ((r = sys_ipc_try_send(to_env, val, pg != NULL ? pg : (void *) UTOP,
				     perm)) == -E_IPC_NOT_RECV)
		sys_yield();
	if (r < 0)
		panic("ipc_send: %e", r);
}

/* The id of the first environment of the given type, or 0 if none. */
envid_t
ipc_find_env(enum EnvType type)
{
	int i;

	for (i = 0; i < NENV; i++)
		if (envs[i].env_type == type)
			return envs[i].env_id;
	return 0;
}
