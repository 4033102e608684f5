/*
 * smpcount: N sforked workers each add 1 to a shared counter M times, with an
 * xchg spinlock ("lock") or without one ("race": read, a delay loop, write),
 * on as many CPUs as the machine has.  argv: N M lock|race.
 */
#include <inc/lib.h>

volatile int counter, lk, done, cpus_seen;

static inline int
xchg(volatile int *addr, int newval)
{
	int result;

	asm volatile("lock; xchgl %0, %1" : "+m" (*addr), "=a" (result) : "1" (newval) : "cc");
	return result;
}

static inline void
atomic_add(volatile int *addr, int n)
{
	asm volatile("lock; addl %1, %0" : "+m" (*addr) : "r" (n) : "cc");
}

static inline void
atomic_or(volatile int *addr, int bits)
{
	asm volatile("lock; orl %1, %0" : "+m" (*addr) : "r" (bits) : "cc");
}

static void
work(int m, bool locked)
{
	int i, v;
	volatile int j;

	for (i = 0; i < m; i++) {
		if (locked)
			while (xchg(&lk, 1) != 0)
				asm volatile("pause");
		v = counter;
		for (j = 0; j < 4; j++)	/* other basic blocks between the read and the write */
			;
		counter = v + 1;
		if (locked)
			xchg(&lk, 0);
		atomic_or(&cpus_seen, 1 << thisenv->env_cpunum);
	}
}

void
umain(int argc, char **argv)
{
	int i, n, m;
	bool locked;

	if (argc != 4)
		panic("usage: smpcount N M lock|race");
	n = strtol(argv[1], 0, 10);
	m = strtol(argv[2], 0, 10);
	locked = strcmp(argv[3], "lock") == 0;
	for (i = 0; i < n; i++)
		if (sfork() == 0) {
			work(m, locked);
			atomic_add(&done, 1);
			return;
		}
	while (done < n)
		sys_yield();
	cprintf("smpcount: %d of %d, %s, CPUs %x\n", counter, n * m,
		counter == n * m ? "exact" : "lost updates", cpus_seen);
}
