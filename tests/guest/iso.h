/* Shared by the isolation reproducers (tests/test_isolation.py). */
#include <inc/lib.h>
#include <inc/batch.h>

#define R(name, expr)	cprintf("R %s %d\n", name, (int) (expr))
#define PUW		(PTE_P | PTE_U | PTE_W)
