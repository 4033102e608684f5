/*
 * rawsys.h: what the robustness programs share: sc(), a raw system call with no
 * library checks; R(), which prints "R name value"; wait_for().
 */
#include <inc/lib.h>

/* A raw system call: no library checks between us and the kernel. */
static int32_t
sc(uint32_t num, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5)
{
	int32_t ret;

	asm volatile("int $0x30"
		     : "=a" (ret)
		     : "a" (num), "d" (a1), "c" (a2), "b" (a3), "D" (a4), "S" (a5)
		     : "cc", "memory");
	return ret;
}

#define R(name, expr)	cprintf("R %s %d\n", name, (int) (expr))
#define PUW		(PTE_P | PTE_U | PTE_W)
#define PU		(PTE_P | PTE_U)

/* Yield until env who has exited. */
static void
wait_for(envid_t who)
{
	while (envs[ENVX(who)].env_id == who && envs[ENVX(who)].env_status != ENV_FREE)
		sys_yield();
}
