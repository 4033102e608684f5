/* String and memory routines, with the semantics of JOS's lib/string.c. */
#include <inc/string.h>

/* Length of s. */
int
strlen(const char *s)
{
	int n = 0;

	while (s[n] != '\0')
		n++;
	return n;
}

/* Length of s, but at most size. */
int
strnlen(const char *s, size_t size)
{
	int n = 0;

	while (size-- > 0 && s[n] != '\0')
		n++;
	return n;
}

/* Copy src, with its NUL, to dst; returns dst. */
char *
strcpy(char *dst, const char *src)
{
	char *d = dst;

	while ((*d++ = *src++) != '\0')
		;
	return dst;
}

/* Append src to the string in dst; returns dst. */
char *
strcat(char *dst, const char *src)
{
	strcpy(dst + strlen(dst), src);
	return dst;
}

/* Copy exactly size bytes: src's characters, then NULs (no NUL is
 * written if src has size characters or more); returns dst. */
char *
strncpy(char *dst, const char *src, size_t size)
{
	size_t i;

	for (i = 0; i < size; i++) {
		dst[i] = *src;
		if (*src != '\0')
			src++;
	}
	return dst;
}

/* Copy at most size - 1 characters of src to dst and NUL-terminate it
 * (if size > 0); returns the number of characters copied. */
size_t
strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = 0;

	if (size == 0)
		return 0;
	while (n + 1 < size && src[n] != '\0') {
		dst[n] = src[n];
		n++;
	}
	dst[n] = '\0';
	return n;
}

/* Compare as unsigned chars: <0, 0 or >0. */
int
strcmp(const char *p, const char *q)
{
	while (*p != '\0' && *p == *q)
		p++, q++;
	return (int) ((unsigned char) *p - (unsigned char) *q);
}

/* strcmp limited to the first size characters. */
int
strncmp(const char *p, const char *q, size_t size)
{
	for (; size > 0; size--, p++, q++)
		if (*p == '\0' || *p != *q)
			return (int) ((unsigned char) *p - (unsigned char) *q);
	return 0;
}

/* The first c in s, or NULL if there is none. */
char *
strchr(const char *s, char c)
{
	for (; *s != '\0'; s++)
		if (*s == c)
			return (char *) s;
	return NULL;
}

/* The first c in s, or the terminating NUL if there is none. */
char *
strfind(const char *s, char c)
{
	while (*s != '\0' && *s != c)
		s++;
	return (char *) s;
}

/*
 * Fill len bytes at v with c; returns v.  When v and len are 4-byte
 * aligned, `rep stosl` stores a word at a time (as JOS does).
 */
void *
memset(void *v, int c, size_t len)
{
	unsigned char *p = v;
	uint32_t word = (unsigned char) c;
	size_t n;

	if ((((uintptr_t) v | len) & 3) == 0) {
		word |= word << 8;
		word |= word << 16;
		n = len / 4;
		asm volatile("cld; rep stosl"
			     : "+D" (p), "+c" (n) : "a" (word) : "cc", "memory");
		return v;
	}
	while (len-- > 0)
		*p++ = c;
	return v;
}

/*
 * Copy len bytes from src to dst; the regions may overlap.  Returns dst.
 * When both pointers and len are 4-byte aligned, `rep movsl` copies a word
 * at a time, backwards (direction flag set) when dst overlaps src from
 * above, as JOS does.
 */
void *
memmove(void *dst, const void *src, size_t len)
{
	const unsigned char *s = src;
	unsigned char *d = dst;
	size_t n = len / 4;

	if ((((uintptr_t) s | (uintptr_t) d | len) & 3) == 0) {
		if (s < d && s + len > d) {
			s += len - 4;
			d += len - 4;
			asm volatile("std; rep movsl; cld"
				     : "+S" (s), "+D" (d), "+c" (n) : : "cc", "memory");
		} else {
			asm volatile("cld; rep movsl"
				     : "+S" (s), "+D" (d), "+c" (n) : : "cc", "memory");
		}
		return dst;
	}
	if (s < d && s + len > d) {
		while (len-- > 0)
			d[len] = s[len];
	} else {
		while (len-- > 0)
			*d++ = *s++;
	}
	return dst;
}

/* Copy len bytes from src to dst; returns dst. */
void *
memcpy(void *dst, const void *src, size_t len)
{
	return memmove(dst, src, len);
}

/* Compare len bytes as unsigned chars: <0, 0 or >0. */
int
memcmp(const void *v1, const void *v2, size_t len)
{
	const unsigned char *s1 = v1, *s2 = v2;

	for (; len > 0; len--, s1++, s2++)
		if (*s1 != *s2)
			return (int) *s1 - (int) *s2;
	return 0;
}

/* The first byte equal to c in the len bytes at s, or s + len. */
void *
memfind(const void *s, int c, size_t len)
{
	const unsigned char *p = s, *end = p + len;

	while (p < end && *p != (unsigned char) c)
		p++;
	return (void *) p;
}

/* Value of digit character c in bases up to 36, or 36 if it is none. */
static int
digit_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 10;
	return 36;
}

/*
 * Parse an integer: blanks and tabs, an optional sign, then digits of
 * base.  Base 0 means 16 after "0x", 8 after "0", else 10; base 16
 * accepts a "0x" prefix.  Stores the end of the number in *endptr if
 * endptr is not NULL.  Overflow is not detected.
 */
long
strtol(const char *s, char **endptr, int base)
{
	bool neg = false;
	long val = 0;
	int d;

	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '+' || *s == '-')
		neg = (*s++ == '-');
	if ((base == 0 || base == 16) && s[0] == '0' && s[1] == 'x')
		s += 2, base = 16;
	else if (base == 0 && s[0] == '0')
		s++, base = 8;
	else if (base == 0)
		base = 10;
	while ((d = digit_value(*s)) < base) {
		val = val * base + d;
		s++;
	}
	if (endptr)
		*endptr = (char *) s;
	return neg ? -val : val;
}
