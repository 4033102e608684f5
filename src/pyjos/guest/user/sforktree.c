// forktree on sfork: a binary tree of shared-memory children, three levels deep
#include <inc/lib.h>

/* The same program as forktree, with every fork() an sfork(). */
#define fork sfork
#include "forktree.c"
