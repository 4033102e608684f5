// benchmark: parent and child bounce a counter over IPC until it reaches N (argv[1])
#include <inc/lib.h>

void
umain(int argc, char **argv)
{
	int n = argc > 1 ? strtol(argv[1], 0, 10) : 1000;
	envid_t who;
	int i;

	if ((who = fork()) < 0)
		panic("ipcloop: fork: %e", who);
	if (who != 0)
		ipc_send(who, 0, 0, 0);
	for (;;) {
		i = ipc_recv(&who, 0, 0);
		if (i >= n)
			break;
		ipc_send(who, i + 1, 0, 0);
	}
	if (i == n)
		ipc_send(who, i + 1, 0, 0);  /* let the other side finish too */
}
