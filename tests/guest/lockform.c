/* The lock-prefix check (tests/test_lockcheck.py): each argument is one
 * instruction in hex, run in a fresh code page at CODE as
 *     mov $0x600d,%eax; mov $3,%ecx; xor %edx,%edx; <insn>; ret
 * with the dwords at DATA set to 5 and 7 first; prints where the
 * instruction is and what it did.  The arguments share the code page, so a
 * second one rewrites the code the first ran.  It yields a few times
 * first, so that with several CPUs the envs spread over them. */
#include "iso.h"

#define CODE	0x00a00000
#define DATA	0x00b00000
#define SITE	(CODE + 12)

static const uint8_t prologue[] = {
	0xb8, 0x0d, 0x60, 0x00, 0x00,	/* mov $0x600d, %eax */
	0xb9, 0x03, 0x00, 0x00, 0x00,	/* mov $3, %ecx */
	0x31, 0xd2,			/* xor %edx, %edx */
};

static int
nibble(char c)
{
	return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10;
}

static void
load(const char *hex)
{
	uint8_t *p = (uint8_t *) CODE;
	int n = 0;

	memmove(p, prologue, sizeof prologue);
	for (; hex[0] && hex[1]; hex += 2)
		p[sizeof prologue + n++] = nibble(hex[0]) << 4 | nibble(hex[1]);
	p[sizeof prologue + n] = 0xc3;	/* ret */
}

void
umain(int argc, char **argv)
{
	volatile uint32_t *data = (volatile uint32_t *) DATA;
	uint32_t eax;
	int i;

	if (sys_page_alloc(0, (void *) CODE, PUW) < 0 || sys_page_alloc(0, (void *) DATA, PUW) < 0)
		panic("lockform: no memory");
	for (i = 0; i < 4; i++)
		sys_yield();
	for (i = 1; i < argc; i++) {
		data[0] = 5;
		data[1] = 7;
		load(argv[i]);
		cprintf("site %08x: %s\n", SITE, argv[i]);
		asm volatile("call *%1" : "=a" (eax) : "S" (CODE) : "ecx", "edx", "memory", "cc");
		cprintf("ran %s: eax %08x mem %08x %08x\n", argv[i], eax, data[0], data[1]);
	}
}
