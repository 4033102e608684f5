/* User-level panic and warning messages. */
#include <inc/lib.h>

/*
 * Print "[envid] user panic in <program> at <file>:<line>: <message>",
 * then end this env.  (JOS traps into the kernel monitor instead; pyjos ends
 * only the panicking env so the others run on.  Use breakpoint() from
 * <inc/x86.h> to stop in the monitor.)
 */
void
_panic(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cprintf("[%08x] user panic in %s at %s:%d: ",
		sys_getenvid(), binaryname, file, line);
	vcprintf(fmt, ap);
	cprintf("\n");
	va_end(ap);
	for (;;)
		sys_env_destroy(0);
}

/* Print "<file>:<line>: warning: <message>" and carry on. */
void
_warn(const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cprintf("%s:%d: warning: ", file, line);
	vcprintf(fmt, ap);
	cprintf("\n");
	va_end(ap);
}
