// sfork semantics: shared globals both ways, private stacks and thisenv, fork/sfork again
#include <inc/lib.h>

#define NEWPAGE 0x20000000

int data_var = 1;            /* .data: shared by sfork */
int bss_var;                 /* .bss: shared by sfork */
volatile int counter;        /* incremented by the child, read by the parent */
volatile int phase;          /* who may go on: a shared handshake */

/* Yield until the shared phase reaches p. */
static void
wait_phase(int p)
{
	while (phase < p)
		sys_yield();
}

static void
check(bool ok, const char *what)
{
	if (!ok)
		panic("sforkcheck: %s", what);
	cprintf("sforkcheck: %s OK\n", what);
}

/* Child and grandchildren: a fork and an sfork from an sforked child. */
static void
child_forks_again(void)
{
	envid_t id;

	if ((id = fork()) == 0) {
		data_var = 99;  /* a private copy: not seen by anyone else */
		check(thisenv->env_id == sys_getenvid(), "thisenv in a fork of an sforked child");
		exit();
	}
	while (envs[ENVX(id)].env_status != ENV_FREE && envs[ENVX(id)].env_id == id)
		sys_yield();
	check(data_var == 4, "a fork of an sforked child does not share");
	if ((id = sfork()) == 0) {
		counter = 100;
		check(thisenv->env_id == sys_getenvid(), "thisenv in an sfork of an sforked child");
		exit();
	}
	while (counter != 100)
		sys_yield();
	check(true, "an sfork of an sforked child shares");
}

void
umain(int argc, char **argv)
{
	int stack_var = 10;
	envid_t parent = sys_getenvid(), child;
	int i;

	if ((child = sfork()) < 0)
		panic("sfork: %e", child);
	if (child == 0) {
		check(thisenv->env_id == sys_getenvid() && thisenv->env_id != parent,
		      "thisenv in the sforked child");
		for (i = 0; i < 5; i++) {
			counter++;
			sys_yield();
		}
		data_var = 2;
		bss_var = 3;
		stack_var = 20;
		if (sys_page_alloc(0, (void *) NEWPAGE, PTE_P | PTE_U | PTE_W) < 0)
			panic("sys_page_alloc");
		phase = 1;
		wait_phase(2);
		check(data_var == 4 && bss_var == 5, "the parent's .data and .bss writes are seen");
		check(stack_var == 20, "the child's stack is its own");
		child_forks_again();
		phase = 3;
		return;
	}
	check(thisenv->env_id == parent, "thisenv in the parent");
	wait_phase(1);
	check(counter == 5, "the child's counter is seen");
	check(data_var == 2 && bss_var == 3, "the child's .data and .bss writes are seen");
	check(stack_var == 10, "the parent's stack is its own");
	check(!(uvpd[PDX(NEWPAGE)] & PTE_P) || !(uvpt[PGNUM(NEWPAGE)] & PTE_P),
	      "a page mapped by the child after sfork is not the parent's");
	data_var = 4;
	bss_var = 5;
	phase = 2;
	wait_phase(3);
	cprintf("sforkcheck: done\n");
}
