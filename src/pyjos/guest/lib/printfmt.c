/*
 * printf-style formatting, shared by cprintf and snprintf.  The output
 * matches JOS: verbs %d %i %u %o %x %p %s %c %e %%, flags '-' '0' '#',
 * a width and a '.' precision given as digits or '*', and 'l' / 'll'
 * length modifiers.  An unknown verb is printed literally, with its '%'.
 */
#include <inc/types.h>
#include <inc/stdio.h>
#include <inc/string.h>
#include <inc/stdarg.h>
#include <inc/error.h>

/* Messages for %e, indexed by error code. */
static const char * const error_string[MAXERROR] = {
	[E_UNSPECIFIED]	= "unspecified error",
	[E_BAD_ENV]	= "bad environment",
	[E_INVAL]	= "invalid parameter",
	[E_NO_MEM]	= "out of memory",
	[E_NO_FREE_ENV]	= "out of environments",
	[E_FAULT]	= "segmentation fault",
	[E_IPC_NOT_RECV] = "env is not recving",
	[E_EOF]		= "unexpected end of file",
};

/* The modifiers of one %-directive. */
struct fmtspec {
	int padc;	/* ' ', '0', or '-' (left-justify, pad with spaces) */
	int width;	/* minimum field width, -1 if none */
	int precision;	/* maximum string length, -1 if none */
	int lflag;	/* number of 'l' modifiers */
};

/* Where formatted characters go. */
struct sink {
	void (*putch)(int, void *);
	void *putdat;
};

/* Emit c n times (nothing if n <= 0). */
static void
put_repeat(const struct sink *out, int c, int n)
{
	for (; n > 0; n--)
		out->putch(c, out->putdat);
}

/* Print num in base, with a leading '-' if negative, padded to the
 * spec's width: on the left with spaces or zeros, or on the right. */
static void
print_number(const struct sink *out, unsigned long long num, unsigned base,
	     bool negative, const struct fmtspec *spec)
{
	char digits[24];
	int ndigits = 0, pad;

	do {
		digits[ndigits++] = "0123456789abcdef"[num % base];
		num /= base;
	} while (num != 0);
	pad = spec->width - ndigits - negative;
	if (spec->padc == ' ')
		put_repeat(out, ' ', pad);
	if (negative)
		out->putch('-', out->putdat);
	if (spec->padc == '0')
		put_repeat(out, '0', pad);
	while (ndigits > 0)
		out->putch(digits[--ndigits], out->putdat);
	if (spec->padc == '-')
		put_repeat(out, ' ', pad);
}

/* Print string s under the spec's precision and width; NULL is "(null)". */
static void
print_string(const struct sink *out, const char *s, const struct fmtspec *spec)
{
	int len, pad;

	if (s == NULL)
		s = "(null)";
	len = strnlen(s, spec->precision);
	pad = spec->width - len;
	if (spec->padc != '-')
		put_repeat(out, spec->padc, pad);
	while (len-- > 0)
		out->putch(*s++, out->putdat);
	if (spec->padc == '-')
		put_repeat(out, ' ', pad);
}

/* Print the message for error code err (either sign), or "error %d". */
static void
print_error(const struct sink *out, int err)
{
	if (err < 0)
		err = -err;
	if (err >= MAXERROR || error_string[err] == NULL)
		printfmt(out->putch, out->putdat, "error %d", err);
	else
		printfmt(out->putch, out->putdat, "%s", error_string[err]);
}

/* Fetch a signed argument of the size given by lflag. */
static long long
get_signed(va_list *ap, int lflag)
{
	if (lflag >= 2)
		return va_arg(*ap, long long);
	if (lflag)
		return va_arg(*ap, long);
	return va_arg(*ap, int);
}

/* Fetch an unsigned argument of the size given by lflag. */
static unsigned long long
get_unsigned(va_list *ap, int lflag)
{
	if (lflag >= 2)
		return va_arg(*ap, unsigned long long);
	if (lflag)
		return va_arg(*ap, unsigned long);
	return va_arg(*ap, unsigned int);
}

/* Record a number read in a directive: the first is the width, unless a
 * '.' came before it; any later one is the precision. */
static void
set_number(struct fmtspec *spec, int n)
{
	if (spec->width < 0)
		spec->width = n;
	else
		spec->precision = n;
}

/* Parse the modifiers after a '%' at *fmtp into spec, advance *fmtp past
 * them and the verb, and return the verb character. */
static int
parse_spec(const char **fmtp, struct fmtspec *spec, va_list *ap)
{
	const char *fmt = *fmtp;
	int ch, n;

	spec->padc = ' ';
	spec->width = spec->precision = -1;
	spec->lflag = 0;
	for (;;) {
		switch (ch = *(const unsigned char *) fmt++) {
		case '-':
		case '0':
			spec->padc = ch;
			break;
		case '#':
			break;
		case '1': case '2': case '3': case '4': case '5':
		case '6': case '7': case '8': case '9':
			for (n = ch - '0'; *fmt >= '0' && *fmt <= '9'; fmt++)
				n = n * 10 + *fmt - '0';
			set_number(spec, n);
			break;
		case '*':
			set_number(spec, va_arg(*ap, int));
			break;
		case '.':
			if (spec->width < 0)
				spec->width = 0;
			break;
		case 'l':
			spec->lflag++;
			break;
		default:
			*fmtp = fmt;
			return ch;
		}
	}
}

/* Format one directive with verb ch.  Returns false if ch is no verb. */
static bool
format_one(const struct sink *out, int ch, const struct fmtspec *spec,
	   va_list *ap)
{
	long long snum;

	switch (ch) {
	case 'c':
		out->putch(va_arg(*ap, int), out->putdat);
		return true;
	case 's':
		print_string(out, va_arg(*ap, const char *), spec);
		return true;
	case 'e':
		print_error(out, va_arg(*ap, int));
		return true;
	case 'd':
	case 'i':
		snum = get_signed(ap, spec->lflag);
		print_number(out, snum < 0 ? -(unsigned long long) snum : snum,
			     10, snum < 0, spec);
		return true;
	case 'u':
		print_number(out, get_unsigned(ap, spec->lflag), 10, false, spec);
		return true;
	case 'o':
		print_number(out, get_unsigned(ap, spec->lflag), 8, false, spec);
		return true;
	case 'x':
		print_number(out, get_unsigned(ap, spec->lflag), 16, false, spec);
		return true;
	case 'p':
		out->putch('0', out->putdat);
		out->putch('x', out->putdat);
		print_number(out, (uintptr_t) va_arg(*ap, void *), 16, false, spec);
		return true;
	case '%':
		out->putch('%', out->putdat);
		return true;
	default:
		return false;
	}
}

/* Format fmt with the arguments in ap, passing each output character to
 * putch(c, putdat). */
void
vprintfmt(void (*putch)(int, void *), void *putdat, const char *fmt, va_list ap)
{
	const struct sink out = { putch, putdat };
	struct fmtspec spec;
	const char *directive;
	int ch;
	va_list aq;

	va_copy(aq, ap);
	for (;;) {
		while ((ch = *(const unsigned char *) fmt++) != '%') {
			if (ch == '\0') {
				va_end(aq);
				return;
			}
			putch(ch, putdat);
		}
		directive = fmt;
		ch = parse_spec(&fmt, &spec, &aq);
		if (!format_one(&out, ch, &spec, &aq)) {
			/* Not a verb: print the directive as plain text. */
			putch('%', putdat);
			fmt = directive;
		}
	}
}

/* vprintfmt with its arguments given directly. */
void
printfmt(void (*putch)(int, void *), void *putdat, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintfmt(putch, putdat, fmt, ap);
	va_end(ap);
}

/* Output buffer of vsnprintf. */
struct sprintbuf {
	char *buf;	/* next free byte */
	char *ebuf;	/* the byte kept for the terminating NUL */
	int cnt;	/* characters produced, stored or not */
};

/* Store ch if there is room; always count it. */
static void
sprintputch(int ch, void *data)
{
	struct sprintbuf *b = data;

	b->cnt++;
	if (b->buf < b->ebuf)
		*b->buf++ = ch;
}

/* Format into buf, storing at most n - 1 characters and a NUL.  Returns
 * the full length of the output, or -E_INVAL if buf is NULL or n < 1. */
int
vsnprintf(char *buf, int n, const char *fmt, va_list ap)
{
	struct sprintbuf b = { buf, buf + n - 1, 0 };

	if (buf == NULL || n < 1)
		return -E_INVAL;
	vprintfmt(sprintputch, &b, fmt, ap);
	*b.buf = '\0';
	return b.cnt;
}

/* vsnprintf with its arguments given directly. */
int
snprintf(char *buf, int n, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = vsnprintf(buf, n, fmt, ap);
	va_end(ap);
	return r;
}
