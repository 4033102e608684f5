/*
 * getenvidloop: calls sys_getenvid for ever (for Ctrl-C during system calls).
 */
#include <inc/lib.h>
void umain(int argc, char **argv) { for (;;) sys_getenvid(); }
