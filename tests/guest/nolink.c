/*
 * nolink: compiles, but calls a function that no object defines.
 */
#include <inc/lib.h>

void no_such_function(void);

void
umain(int argc, char **argv)
{
	no_such_function();
}
