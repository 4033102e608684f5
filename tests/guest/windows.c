/*
 * windows: page writes that must, or must not, count as copies for a child
 * being forked (the kernel's pages_copied).  argv[1] picks the case; each
 * runs during a fork (from sys_exofork until the child is runnable) unless
 * it says otherwise; the child never runs (it has no pages) and is destroyed.
 *   written    a page of the child, mapped here at UTEMP and written: 1 copy
 *   unwritten  the same, only read: 0
 *   own        our own page written at UTEMP, mapped again at WINDOW2: 0
 *   nofork     our own page written at UTEMP, no fork in progress: 0
 *   after      the child's page written after it was made runnable: 0
 *   given      our own page written, given to the child (mapped there,
 *              unmapped here): 1
 */
#include <inc/lib.h>

#define CHILD_VA	((char *) 0x10000000)
#define WINDOW2		(UTEMP + PGSIZE)

static void
check(int r, const char *what)
{
	if (r < 0)
		panic("%s: %e", what, r);
}

/* A child being forked; it never runs (see umain). */
static envid_t
child(void)
{
	envid_t id = sys_exofork();

	check(id, "sys_exofork");
	if (id == 0)
		panic("windows: the child ran");
	return id;
}

/* End the fork (the child runnable), then stop the child before it runs. */
static void
end_fork(envid_t id)
{
	check(sys_env_set_status(id, ENV_RUNNABLE), "sys_env_set_status");
	check(sys_env_set_status(id, ENV_NOT_RUNNABLE), "sys_env_set_status");
}

/* Map the child's page CHILD_VA here at UTEMP; touch it (write or read); unmap. */
static void
window(envid_t id, bool write)
{
	volatile char *w = (volatile char *) UTEMP;

	check(sys_page_alloc(id, CHILD_VA, PTE_P | PTE_U | PTE_W), "sys_page_alloc child");
	check(sys_page_map(id, CHILD_VA, 0, UTEMP, PTE_P | PTE_U | PTE_W), "sys_page_map");
	if (write)
		w[100] = 1;
	else
		(void) w[100];
	check(sys_page_unmap(0, UTEMP), "sys_page_unmap");
}

/* Our own page at UTEMP, written. */
static void
own_page(void)
{
	check(sys_page_alloc(0, UTEMP, PTE_P | PTE_U | PTE_W), "sys_page_alloc");
	((volatile char *) UTEMP)[7] = 7;
}

void
umain(int argc, char **argv)
{
	const char *what = argc > 1 ? argv[1] : "";
	envid_t id = 0;

	if (strcmp(what, "nofork") != 0)
		id = child();
	if (!strcmp(what, "after"))
		end_fork(id);
	if (!strcmp(what, "written") || !strcmp(what, "after"))
		window(id, 1);
	else if (!strcmp(what, "unwritten"))
		window(id, 0);
	else if (!strcmp(what, "own")) {
		own_page();
		check(sys_page_map(0, UTEMP, 0, WINDOW2, PTE_P | PTE_U | PTE_W), "sys_page_map");
		check(sys_page_unmap(0, UTEMP), "sys_page_unmap");
	} else if (!strcmp(what, "nofork")) {
		own_page();
		check(sys_page_unmap(0, UTEMP), "sys_page_unmap");
	} else if (!strcmp(what, "given")) {
		own_page();
		check(sys_page_map(0, UTEMP, id, CHILD_VA, PTE_P | PTE_U | PTE_W), "sys_page_map");
		check(sys_page_unmap(0, UTEMP), "sys_page_unmap");
	} else
		panic("windows: no case %s", what);
	if (strcmp(what, "nofork") != 0 && strcmp(what, "after") != 0)
		end_fork(id);
	if (id)
		check(sys_env_destroy(id), "sys_env_destroy");
	cprintf("windows %s done\n", what);
}
