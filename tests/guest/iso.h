/* Shared by the isolation reproducers (tests/test_isolation.py). */
#include <inc/lib.h>
#include <inc/batch.h>

/* A raw system call: no library checks between us and the kernel. */
static inline int32_t
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
