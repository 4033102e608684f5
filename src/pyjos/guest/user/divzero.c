// divide by zero
#include <inc/lib.h>

/* Both volatile: otherwise the compiler deletes a division it can prove
 * bad, or turns 1/x into comparisons that cannot trap. */
volatile int zero;
volatile int one = 1;

void
umain(int argc, char **argv)
{
	zero = 0;
	cprintf("1/0 is %08x!\n", one / zero);
}
