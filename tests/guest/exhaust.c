/*
 * exhaust: fork (or, with argv[1] "sfork", sfork) until it fails, then destroy
 * every child.
 */
#include <inc/lib.h>

envid_t kids[NENV];  /* written by the parent only */

void
umain(int argc, char **argv)
{
	const char *how = argc > 1 && !strcmp(argv[1], "sfork") ? "sfork" : "fork";
	int n = 0, i;
	envid_t id;

	for (;;) {
		id = how[0] == 's' ? sfork() : fork();
		if (id == 0) {
			ipc_recv(0, 0, 0);  /* wait to be destroyed */
			panic("child woke up");
		}
		if (id < 0)
			break;
		kids[n++] = id;
	}
	cprintf("%s failed after %d children: %e\n", how, n, id);
	for (i = 0; i < n; i++)
		sys_env_destroy(kids[i]);
	cprintf("exhaustion: parent done\n");
}
