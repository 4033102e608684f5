// concurrent prime sieve, one forked filter environment per prime (optional argv[1]: last number fed)
#include <inc/lib.h>

/*
 * One stage of the sieve: the first number received is a prime; print
 * it, fork the next stage, and pass on the numbers it does not divide.
 */
static void
primeproc(void)
{
	envid_t from, next;
	int p, i;

	for (;;) {
		p = ipc_recv(&from, 0, 0);
		cprintf("CPU %d: %d ", thisenv->env_cpunum, p);
		if ((next = fork()) < 0)
			panic("fork: %e", next);
		if (next != 0)
			break;
		/* The child becomes the next stage. */
	}
	for (;;) {
		i = ipc_recv(&from, 0, 0);
		if (i % p)
			ipc_send(next, i, 0, 0);
	}
}

void
umain(int argc, char **argv)
{
	envid_t id;
	int i, limit = argc > 1 ? strtol(argv[1], 0, 10) : 0;

	if ((id = fork()) < 0)
		panic("fork: %e", id);
	if (id == 0)
		primeproc();

	/* Feed the integers from 2 up (to limit, if given) into the first stage. */
	for (i = 2; limit <= 0 || i <= limit; i++)
		ipc_send(id, i, 0, 0);
	/* Done feeding: wait like the filters, so env ids stay as in a full run. */
	for (;;)
		ipc_recv(0, 0, 0);
}
