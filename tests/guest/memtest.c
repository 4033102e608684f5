/*
 * memtest: memmove and memset, aligned and unaligned, overlapping both ways.
 */
#include <inc/lib.h>

char buf[64] __attribute__((aligned(4)));

static void
fill(void)
{
	int i;

	for (i = 0; i < 64; i++)
		buf[i] = i;
}

void
umain(int argc, char **argv)
{
	int i, ok = 1;

	fill();
	memmove(buf + 4, buf, 32);           /* aligned, overlapping, dst above: backwards */
	for (i = 0; i < 32; i++)
		ok &= buf[4 + i] == i;
	cprintf("backwards %d\n", ok);
	fill();
	memmove(buf, buf + 4, 32);           /* aligned, overlapping, dst below: forwards */
	for (i = 0; i < 32; i++)
		ok &= buf[i] == i + 4;
	cprintf("forwards %d\n", ok);
	memset(buf, 0xab, 64);               /* aligned: rep stosl */
	for (i = 0; i < 64; i++)
		ok &= (unsigned char) buf[i] == 0xab;
	cprintf("memset %d\n", ok);
	memset(buf + 1, 7, 5);               /* unaligned: byte loop, nothing outside */
	ok &= buf[0] == (char) 0xab && buf[1] == 7 && buf[5] == 7 && buf[6] == (char) 0xab;
	cprintf("memset-unaligned %d\n", ok);
	fill();
	memmove(buf + 1, buf + 2, 7);        /* unaligned overlap */
	for (i = 1; i < 8; i++)
		ok &= buf[i] == i + 1;
	ok &= buf[8] == 8;
	cprintf("memmove-unaligned %d\n", ok);
	memcpy(buf + 32, buf, 0);            /* zero length */
	cprintf("all %d\n", ok);
}
