/*
 * xmodify: code the guest itself rewrites must not outlive the rewrite on
 * any CPU.  Each CPU caches code it translated; a store drops the blocks it
 * changes in the storing CPU's cache only (machine/codewatch.py does the
 * rest).  The parent runs code at V on two CPUs, then rewrites it
 * (phase 1, one address space); then a child rewrites the same frame
 * through its own mapping W (phase 2, another directory).  After each
 * rewrite V must run the new code on both CPUs.  Two more children yield
 * meanwhile, so the parent moves between the CPUs.  Run it on two CPUs:
 * with more, the parent may stay on one (then it panics saying so).
 */
#include "codecalls.h"

#define W ((uint8_t *) 0x20000000)

void
umain(int argc, char **argv)
{
	envid_t kids[2], writer;
	int i;

	for (i = 0; i < 2; i++)
		if ((kids[i] = fork()) == 0)
			for (;;)
				sys_yield();
	if ((writer = fork()) == 0) {
		ipc_recv(0, 0, 0);
		put_code(W, 3);		/* phase 2: the child's own mapping of V's frame */
		ipc_send(thisenv->env_parent_id, 0, 0, 0);
		return;
	}
	check(sys_page_alloc(0, V, PUW), "alloc V");
	put_code(V, 1);
	if (run_on_both(1) != 0)
		panic("V did not run its first code");
	put_code(V, 2);		/* phase 1: rewritten here, on one of the CPUs */
	cprintf("xmodify: %d stale calls after the env's own rewrite\n", run_on_both(2));
	check(sys_page_map(0, V, writer, W, PUW), "map V at W in the child");
	ipc_send(writer, 0, 0, 0);
	ipc_recv(0, 0, 0);
	cprintf("xmodify: %d stale calls after another env's rewrite\n", run_on_both(3));
	for (i = 0; i < 2; i++)
		sys_env_destroy(kids[i]);
}
