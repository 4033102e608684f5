/*
 * cprintf: formatted console output.  Characters collect in a buffer on
 * the stack that goes to the kernel with sys_cputs when it fills and once
 * at the end, so a short message costs one system call and is printed
 * without being interleaved with other environments' output.
 */
#include <inc/lib.h>

#define PRINTBUF_SIZE	256

/* cprintf's output buffer. */
struct printbuf {
	int idx;			/* bytes in buf */
	int cnt;			/* bytes printed so far */
	char buf[PRINTBUF_SIZE];
};

/* Append ch to the buffer, flushing it to the console when full. */
static void
putch(int ch, void *data)
{
	struct printbuf *b = data;

	b->buf[b->idx++] = ch;
	if (b->idx == PRINTBUF_SIZE) {
		sys_cputs(b->buf, b->idx);
		b->idx = 0;
	}
	b->cnt++;
}

/* Print fmt with the arguments in ap; returns the number of characters. */
int
vcprintf(const char *fmt, va_list ap)
{
	struct printbuf b;

	b.idx = 0;
	b.cnt = 0;
	vprintfmt(putch, &b, fmt, ap);
	sys_cputs(b.buf, b.idx);
	return b.cnt;
}

/* Print fmt with its arguments; returns the number of characters. */
int
cprintf(const char *fmt, ...)
{
	va_list ap;
	int cnt;

	va_start(ap, fmt);
	cnt = vcprintf(fmt, ap);
	va_end(ap);
	return cnt;
}
