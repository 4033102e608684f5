/*
 * Measure, on the machine pyjos runs on, what the `host` cost model needs
 * (costmodel.py): a real system call, a 4 KiB copy and zeroing, a page
 * fault round trip (mprotect + SIGSEGV handler + return), a context switch
 * (pipe ping-pong between two processes on one CPU), and the TSC clock.
 * Prints `name value` lines: cycles per event, and tsc_per_ns.
 * Each figure is the minimum over several rounds of many iterations.
 */
#define _GNU_SOURCE
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#define ROUNDS 7

static char *fault_page;
static long page_size;

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t) ts.tv_sec * 1000000000u + ts.tv_nsec;
}

/* TSC ticks per nanosecond, over 50 ms. */
static double
tsc_per_ns(void)
{
	uint64_t t0 = now_ns(), c0 = __rdtsc(), t1;

	do
		t1 = now_ns();
	while (t1 - t0 < 50000000u);
	return (double) (__rdtsc() - c0) / (double) (t1 - t0);
}

static void
on_segv(int sig, siginfo_t *info, void *ctx)
{
	(void) sig;
	(void) info;
	(void) ctx;
	mprotect(fault_page, page_size, PROT_READ | PROT_WRITE);
}

/* Minimum cycles per iteration of body over ROUNDS rounds of n. */
#define MEASURE(result, n, body)                                         \
	do {                                                             \
		uint64_t best_ = UINT64_MAX;                             \
		for (int r_ = 0; r_ < ROUNDS; r_++) {                    \
			uint64_t c0_ = __rdtsc();                        \
			for (long i_ = 0; i_ < (n); i_++) {              \
				body;                                    \
			}                                                \
			uint64_t c_ = (__rdtsc() - c0_) / (n);           \
			if (c_ < best_)                                  \
				best_ = c_;                              \
		}                                                        \
		(result) = best_;                                        \
	} while (0)

/* Cycles for one switch between two processes pinned to CPU 0. */
static uint64_t
switch_cycles(long n)
{
	int ab[2], ba[2];
	char c = 0;
	uint64_t best;
	cpu_set_t cpu;
	pid_t pid;

	CPU_ZERO(&cpu);
	CPU_SET(0, &cpu);
	sched_setaffinity(0, sizeof(cpu), &cpu);
	if (pipe(ab) < 0 || pipe(ba) < 0)
		return 0;
	pid = fork();
	if (pid == 0) {
		close(ab[1]);  /* so that the parent's close is our end of file */
		close(ba[0]);
		for (;;) {
			if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1)
				_exit(0);
		}
	}
	close(ab[0]);
	close(ba[1]);
	MEASURE(best, n, {
		if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
			break;
	});
	close(ab[1]);
	waitpid(pid, NULL, 0);
	return best / 2;  /* a round trip is two switches */
}

int
main(void)
{
	static char src[4096] __attribute__((aligned(64))), dst[4096] __attribute__((aligned(64)));
	struct sigaction sa;
	uint64_t syscall_c, copy_c, zero_c, fault_c, switch_c;

	page_size = sysconf(_SC_PAGESIZE);
	fault_page = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (fault_page == MAP_FAILED)
		return 1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_segv;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);

	MEASURE(syscall_c, 20000, syscall(SYS_getppid));
	MEASURE(copy_c, 20000, { memcpy(dst, src, sizeof(dst)); asm volatile("" ::: "memory"); });
	MEASURE(zero_c, 20000, { memset(dst, 0, sizeof(dst)); asm volatile("" ::: "memory"); });
	MEASURE(fault_c, 5000, {
		mprotect(fault_page, page_size, PROT_READ);
		*(volatile char *) fault_page = 1;
	});
	switch_c = switch_cycles(5000);

	printf("syscall %llu\n", (unsigned long long) syscall_c);
	printf("copy_4k %llu\n", (unsigned long long) copy_c);
	printf("zero_4k %llu\n", (unsigned long long) zero_c);
	printf("fault_roundtrip %llu\n", (unsigned long long) fault_c);
	printf("switch %llu\n", (unsigned long long) switch_c);
	printf("tsc_per_ns %.4f\n", tsc_per_ns());
	return 0;
}
