/*
 * exhaust: fork until it fails, then destroys every child.
 */
#include <inc/lib.h>

envid_t kids[NENV];  /* written by the parent only */

void
umain(int argc, char **argv)
{
	int n = 0, i;
	envid_t id;

	for (;;) {
		id = fork();
		if (id == 0) {
			ipc_recv(0, 0, 0);  /* wait to be destroyed */
			panic("child woke up");
		}
		if (id < 0)
			break;
		kids[n++] = id;
	}
	cprintf("fork failed after %d children: %e\n", n, id);
	for (i = 0; i < n; i++)
		sys_env_destroy(kids[i]);
	cprintf("exhaustion: parent done\n");
}
