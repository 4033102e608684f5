/*
 * The native reference of `pyjos bench fork`: the same fork cycle as
 * forkbench, on the host.  Map N pages (argv[1]) and dirty each one, then F
 * times (argv[2]): fork, the child exits at once, the parent waits for it.
 * Prints one line per fork: `fork <call_ns> <cycle_ns>`, the fork() call as
 * the parent sees it and the whole cycle up to waitpid's return.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	long npages, nforks, i, page = sysconf(_SC_PAGESIZE);
	char *mem = NULL;

	if (argc != 3 || (npages = atol(argv[1])) < 0 || (nforks = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: forknative NPAGES NFORKS\n");
		return 2;
	}
	if (npages) {
		mem = mmap(NULL, npages * page, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED) {
			perror("forknative: mmap");
			return 1;
		}
	}
	for (i = 0; i < npages; i++)
		mem[i * page] = (char) i;
	for (i = 0; i < nforks; i++) {
		uint64_t t0 = now_ns(), t1, t2;
		int status;
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		t1 = now_ns();
		if (pid < 0) {
			perror("forknative: fork");
			return 1;
		}
		if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
			perror("forknative: waitpid");
			return 1;
		}
		t2 = now_ns();
		printf("fork %llu %llu\n", (unsigned long long) (t1 - t0),
		       (unsigned long long) (t2 - t0));
	}
	return 0;
}
