/* C start-up: set up the library globals, run umain, then exit. */
#include <inc/lib.h>

/* Name of the running program, for panic messages. */
const char *binaryname = "<unknown>";

/*
 * This environment's entry in envs[].  It lives alone on the page-aligned
 * .thisenv page (see user.ld), so a shared-memory fork can keep it private.
 */
const volatile struct Env *thisenv __attribute__((section(".thisenv")));

/* Called from entry.S with the kernel-supplied arguments; does not return. */
void
libmain(int argc, char **argv)
{
	thisenv = &envs[ENVX(sys_getenvid())];
	if (argc > 0)
		binaryname = argv[0];
	umain(argc, argv);
	exit();
}
