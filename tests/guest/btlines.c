/*
 * btlines: umain -> f -> g -> int3, for the monitor's backtrace to name
 * each frame's file:line.  The trap's eip is the instruction after int3;
 * each call is the last code of its line (its value is used there), so its
 * return address lies on the marked line.
 */
#include <inc/lib.h>

static int __attribute__((noinline))
g(int x)
{
	asm volatile("int3");
	cprintf("g %d\n", x);	/* @resume (int3's eip); a call: g keeps its frame */
	return x + 1;
}

static int __attribute__((noinline))
f(int x)
{
	return g(x * 3) * 5;	/* @call-g */
}

void
umain(int argc, char **argv)
{
	int r = f(argc) * 7;	/* @call-f */

	cprintf("btlines %d\n", r);
}
