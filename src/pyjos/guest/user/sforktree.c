// forktree on sfork: a binary tree of shared-memory children, three levels deep
#include <inc/lib.h>

#define DEPTH 3

static void forktree(const char *cur);

/* Fork a child named cur + branch that continues the tree (if not too deep). */
static void
forkchild(const char *cur, char branch)
{
	char nxt[DEPTH + 1];

	if (strlen(cur) >= DEPTH)
		return;
	snprintf(nxt, DEPTH + 1, "%s%c", cur, branch);
	if (sfork() == 0) {
		forktree(nxt);
		exit();
	}
}

/* Announce ourselves as node cur, then fork our two children. */
static void
forktree(const char *cur)
{
	cprintf("%04x: I am '%s'\n", sys_getenvid(), cur);
	forkchild(cur, '0');
	forkchild(cur, '1');
}

void
umain(int argc, char **argv)
{
	forktree("");
}
