// check that bss starts zeroed and holds values, then write past it
#include <inc/lib.h>

#define ARRAYSIZE (1024 * 1024)

uint32_t bigarray[ARRAYSIZE];

void
umain(int argc, char **argv)
{
	int i;

	cprintf("Making sure bss works right...\n");
	for (i = 0; i < ARRAYSIZE; i++)
		if (bigarray[i] != 0)
			panic("bigarray[%d] isn't cleared!\n", i);
	for (i = 0; i < ARRAYSIZE; i++)
		bigarray[i] = i;
	for (i = 0; i < ARRAYSIZE; i++)
		if (bigarray[i] != i)
			panic("bigarray[%d] didn't hold its value!\n", i);

	cprintf("Yes, good.  Now doing a wild write off the end...\n");
	/* Through a pointer the compiler cannot follow, so that it neither
	 * drops the bad write nor warns about it. */
	uint32_t *volatile p = bigarray;
	p[ARRAYSIZE + 1024] = 0;
	panic("SHOULD HAVE TRAPPED!!!");
}
