#include <inc/lib.h>	/* broken: does not compile (the error is on line 2) */
void umain(int argc, char **argv) { this is not C; }
