// after fork, parent and child each see only their own writes to data, bss, heap and stack
#include <inc/lib.h>

/* A page allocated before the fork, standing in for a heap. */
#define HEAP	((volatile int *) 0x10000000)

int data_var = 1;	/* .data */
int bss_var;		/* .bss */

/* Panic unless what == expected. */
static void
expect(const char *name, int what, int expected)
{
	if (what != expected)
		panic("cowisolate: %s is %d, expected %d", name, what, expected);
}

/* Check that the four variables hold base + 1 ... base + 4. */
static void
expect_all(volatile int *stack_var, int base)
{
	expect("data", data_var, base + 1);
	expect("bss", bss_var, base + 2);
	expect("heap", *HEAP, base + 3);
	expect("stack", *stack_var, base + 4);
}

void
umain(int argc, char **argv)
{
	volatile int stack_var;
	envid_t who;
	int r, i, mine;

	if ((r = sys_page_alloc(0, (void *) HEAP, PTE_P | PTE_U | PTE_W)) < 0)
		panic("cowisolate: sys_page_alloc: %e", r);
	bss_var = 2;
	*HEAP = 3;
	stack_var = 4;
	if ((who = fork()) < 0)
		panic("cowisolate: fork: %e", who);

	/* Both see the values from before the fork ... */
	expect_all(&stack_var, 0);
	/* ... then write their own, let the other run, and must still see
	 * exactly their own. */
	mine = who == 0 ? 100 : 200;
	data_var = mine + 1;
	bss_var = mine + 2;
	*HEAP = mine + 3;
	stack_var = mine + 4;
	for (i = 0; i < 5; i++)
		sys_yield();
	expect_all(&stack_var, mine);
	cprintf("cowisolate: OK\n");
}
