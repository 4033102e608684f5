/*
 * sframes: after sfork, parent and child print the frames of .data, the stack,
 * thisenv's page and .rodata.
 */
#include <inc/lib.h>

int shared_data = 1;
const char rodata[4096] __attribute__((aligned(4096))) = "read-only";

static unsigned frame(const volatile void *va) { return PTE_ADDR(uvpt[PGNUM(va)]); }

void
umain(int argc, char **argv)
{
	volatile int local = 0;
	envid_t id = sfork();

	local = 5;  /* a stack write: a private copy for whoever writes first */
	cprintf("%s data %08x stack %08x thisenv %08x rodata %08x rodata-w %d\n",
		id ? "parent" : "child", frame(&shared_data), frame(&local), frame(&thisenv),
		frame(rodata), !!(uvpt[PGNUM(rodata)] & PTE_W));
	if (id)
		while (envs[ENVX(id)].env_id == id && envs[ENVX(id)].env_status != ENV_FREE)
			sys_yield();
}
