/*
 * 64-bit division helpers that gcc calls for '/' and '%' on 64-bit
 * operands when compiling for i386 (normally from libgcc, which we do
 * not have).  At -O2 gcc fuses a '/' and '%' pair into one call of the
 * divmod variants.  Division by zero traps (#DE) like a hardware divide.
 */
#include <inc/types.h>

unsigned long long __udivdi3(unsigned long long n, unsigned long long d);
unsigned long long __umoddi3(unsigned long long n, unsigned long long d);
long long __divdi3(long long n, long long d);
long long __moddi3(long long n, long long d);
unsigned long long __udivmoddi4(unsigned long long n, unsigned long long d,
				unsigned long long *rem);
long long __divmoddi4(long long n, long long d, long long *rem);

/* Divide the 64-bit value hi:lo by d with the divl instruction (which
 * requires hi < d); returns the quotient and stores the remainder. */
static uint32_t
divl(uint32_t hi, uint32_t lo, uint32_t d, uint32_t *rem)
{
	uint32_t q, r;

	asm("divl %4" : "=a" (q), "=d" (r) : "a" (lo), "d" (hi), "rm" (d));
	*rem = r;
	return q;
}

/* Unsigned 64-bit division: returns n / d and stores n % d in *rem. */
static unsigned long long
udivmod64(unsigned long long n, unsigned long long d, unsigned long long *rem)
{
	uint32_t nhi = n >> 32, qhi, qlo, r;
	unsigned long long q;
	int shift;

	if ((d >> 32) == 0) {
		/* Schoolbook division by a one-word divisor, two divl steps. */
		qhi = divl(0, nhi, d, &r);
		qlo = divl(r, (uint32_t) n, d, &r);
		*rem = r;
		return (unsigned long long) qhi << 32 | qlo;
	}
	/* The divisor has two words, so the quotient fits in one:
	 * restoring shift-and-subtract division. */
	for (shift = 0; (d << shift) <= n && !((d << shift) >> 63); shift++)
		;
	q = 0;
	for (; shift >= 0; shift--) {
		q <<= 1;
		if (n >= (d << shift)) {
			n -= d << shift;
			q |= 1;
		}
	}
	*rem = n;
	return q;
}

/* n / d, unsigned. */
unsigned long long
__udivdi3(unsigned long long n, unsigned long long d)
{
	unsigned long long r;

	return udivmod64(n, d, &r);
}

/* n % d, unsigned. */
unsigned long long
__umoddi3(unsigned long long n, unsigned long long d)
{
	unsigned long long r;

	udivmod64(n, d, &r);
	return r;
}

/* n / d and, in *rem unless rem is NULL, n % d; unsigned. */
unsigned long long
__udivmoddi4(unsigned long long n, unsigned long long d, unsigned long long *rem)
{
	unsigned long long r, q = udivmod64(n, d, &r);

	if (rem)
		*rem = r;
	return q;
}

/* Signed division rounding toward zero: returns n / d and stores n % d,
 * which has the sign of n, in *rem. */
static long long
sdivmod64(long long n, long long d, long long *rem)
{
	unsigned long long un = n < 0 ? -(unsigned long long) n : n;
	unsigned long long ud = d < 0 ? -(unsigned long long) d : d;
	unsigned long long r, q = udivmod64(un, ud, &r);

	*rem = n < 0 ? -r : r;
	return (n < 0) != (d < 0) ? -q : q;
}

/* n / d, signed. */
long long
__divdi3(long long n, long long d)
{
	long long r;

	return sdivmod64(n, d, &r);
}

/* n % d, signed. */
long long
__moddi3(long long n, long long d)
{
	long long r;

	sdivmod64(n, d, &r);
	return r;
}

/* n / d and, in *rem unless rem is NULL, n % d; signed. */
long long
__divmoddi4(long long n, long long d, long long *rem)
{
	long long r, q = sdivmod64(n, d, &r);

	if (rem)
		*rem = r;
	return q;
}
