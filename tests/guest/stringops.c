/*
 * stringops: B: rep stosb/movsb and memcpy without cld, across switches (DF = 0).
 */
#include "rawsys.h"

static char src[8192], dst[8192];

void
umain(int argc, char **argv)
{
	int round, i, bad = 0;
	uint16_t es;
	volatile int j;

	for (round = 0; round < 12; round++) {
		char c = 'a' + round;
		void *d = src, *s = src;
		size_t n = sizeof src;

		/* No cld: the ABI promises DF = 0, and the kernel must keep it so. */
		asm volatile("rep stosb" : "+D" (d), "+c" (n) : "a" (c) : "memory");
		d = dst, n = sizeof dst;
		asm volatile("rep movsb" : "+S" (s), "+D" (d), "+c" (n) : : "memory");
		for (i = 0; i < (int) sizeof dst; i++)
			if (dst[i] != c || src[i] != c)
				bad++;
		memset(dst, 0, sizeof dst);
		memcpy(dst, src, 100);
		if (dst[99] != c || dst[100] != 0)
			bad++;
		sys_yield();
		for (j = 0; j < 20000; j++)
			;
	}
	asm volatile("movw %%es, %0" : "=r" (es));
	cprintf("B es %x bad %d\n", es, bad);
	cprintf(bad ? "B FAILED\n" : "B OK\n");
}
