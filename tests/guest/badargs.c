/*
 * badargs: every system call with bad arguments (raw int $0x30, no library checks);
 * prints "R name value" for each.
 */
#include "rawsys.h"

#define A	0x10000000	/* mapped read-write */
#define B	0x10001000	/* read-only alias of A */
#define C	0x10002000	/* target, unmapped */
#define D	0x10003000	/* never mapped */
#define RECV	0x30000000	/* where the forked child receives pages */
#define OTHER	0x1001		/* the sleeper: alive, not our child */
#define BOGUS	0x7eadb000	/* no such env */

static void
child(void)
{
	envid_t parent = thisenv->env_parent_id, from;
	int perm, v;

	R("child_destroy_parent", sc(SYS_env_destroy, parent, 0, 0, 0, 0));
	R("child_status_parent", sc(SYS_env_set_status, parent, ENV_NOT_RUNNABLE, 0, 0, 0));
	R("child_alloc_in_parent", sc(SYS_page_alloc, parent, C, PUW, 0, 0));
	R("child_map_from_parent", sc(SYS_page_map, parent, A, 0, C, PU));
	R("child_upcall_parent", sc(SYS_env_set_pgfault_upcall, parent, 0, 0, 0, 0));

	v = ipc_recv(&from, (void *) RECV, &perm);
	R("child_value1", v);
	R("child_from_parent", from == parent);
	R("child_perm1", perm);
	R("child_page_byte", *(volatile char *) RECV);
	R("child_page_ro", (uvpt[PGNUM(RECV)] & PTE_W) == 0);

	v = ipc_recv(&from, 0, &perm);	/* no page wanted; one is offered */
	R("child_value2", v);
	R("child_perm2", perm);
}

void
umain(int argc, char **argv)
{
	envid_t kid, x;

	/* A forked child first (it blocks in ipc_recv), then the pages. */
	if ((kid = fork()) < 0)
		panic("fork: %e", kid);
	if (kid == 0) {
		child();
		return;
	}

	/* --- env_destroy --- */
	R("destroy_other", sc(SYS_env_destroy, OTHER, 0, 0, 0, 0));
	R("destroy_bogus", sc(SYS_env_destroy, BOGUS, 0, 0, 0, 0));
	R("destroy_minus1", sc(SYS_env_destroy, -1, 0, 0, 0, 0));
	R("destroy_free_slot", sc(SYS_env_destroy, 0x1000 | 0x3ff, 0, 0, 0, 0));

	/* --- page_alloc --- */
	R("alloc_ok", sc(SYS_page_alloc, 0, A, PUW, 0, 0));
	R("alloc_utop", sc(SYS_page_alloc, 0, UTOP, PUW, 0, 0));
	R("alloc_kernel", sc(SYS_page_alloc, 0, KERNBASE, PUW, 0, 0));
	R("alloc_top", sc(SYS_page_alloc, 0, 0xfffff000, PUW, 0, 0));
	R("alloc_unaligned", sc(SYS_page_alloc, 0, C + 1, PUW, 0, 0));
	R("alloc_no_p", sc(SYS_page_alloc, 0, C, PTE_U | PTE_W, 0, 0));
	R("alloc_no_u", sc(SYS_page_alloc, 0, C, PTE_P | PTE_W, 0, 0));
	R("alloc_perm_pwt", sc(SYS_page_alloc, 0, C, PUW | PTE_PWT, 0, 0));
	R("alloc_perm_ps", sc(SYS_page_alloc, 0, C, PUW | PTE_PS, 0, 0));
	R("alloc_perm_high", sc(SYS_page_alloc, 0, C, PUW | 0x1000, 0, 0));
	R("alloc_perm_g", sc(SYS_page_alloc, 0, C, PUW | PTE_G, 0, 0));
	R("alloc_perm_avail", sc(SYS_page_alloc, 0, D, PUW | PTE_AVAIL, 0, 0));
	R("alloc_other", sc(SYS_page_alloc, OTHER, C, PUW, 0, 0));
	R("alloc_bogus", sc(SYS_page_alloc, BOGUS, C, PUW, 0, 0));
	R("unmap_d", sc(SYS_page_unmap, 0, D, 0, 0, 0));
	R("c_unmapped", (uvpd[PDX(C)] & PTE_P) && (uvpt[PGNUM(C)] & PTE_P));
	*(volatile char *) A = 'Z';

	/* --- page_map --- */
	R("map_ro_ok", sc(SYS_page_map, 0, A, 0, B, PU));
	R("map_w_from_ro", sc(SYS_page_map, 0, B, 0, C, PUW));
	R("map_unmapped_src", sc(SYS_page_map, 0, D, 0, C, PU));
	R("map_src_unaligned", sc(SYS_page_map, 0, A + 1, 0, C, PU));
	R("map_dst_unaligned", sc(SYS_page_map, 0, A, 0, C + 8, PU));
	R("map_src_utop", sc(SYS_page_map, 0, UTOP, 0, C, PU));
	R("map_src_uvpt", sc(SYS_page_map, 0, UVPT, 0, C, PU));
	R("map_dst_utop", sc(SYS_page_map, 0, A, 0, UTOP, PU));
	R("map_dst_kernel", sc(SYS_page_map, 0, A, 0, KERNBASE, PU));
	R("map_bad_perm", sc(SYS_page_map, 0, A, 0, C, PUW | 0x1000));
	R("map_no_u", sc(SYS_page_map, 0, A, 0, C, PTE_P));
	R("map_to_other", sc(SYS_page_map, 0, A, OTHER, C, PU));
	R("map_from_other", sc(SYS_page_map, OTHER, UTEXT, 0, C, PU));
	R("map_bogus", sc(SYS_page_map, 0, A, BOGUS, C, PU));
	R("map_to_child_ok", sc(SYS_page_map, 0, A, kid, C, PU));
	R("b_readonly", (uvpt[PGNUM(B)] & (PTE_P | PTE_W)) == PTE_P);
	R("b_same_frame", PTE_ADDR(uvpt[PGNUM(B)]) == PTE_ADDR(uvpt[PGNUM(A)]));
	R("a_refs", pages[PGNUM(PTE_ADDR(uvpt[PGNUM(A)]))].pp_ref);

	/* --- page_unmap --- */
	R("unmap_utop", sc(SYS_page_unmap, 0, UTOP, 0, 0, 0));
	R("unmap_unaligned", sc(SYS_page_unmap, 0, B + 4, 0, 0, 0));
	R("unmap_other", sc(SYS_page_unmap, OTHER, UTEXT, 0, 0, 0));
	R("unmap_bogus", sc(SYS_page_unmap, BOGUS, B, 0, 0, 0));
	R("unmap_nothing", sc(SYS_page_unmap, 0, D, 0, 0, 0));
	R("unmap_no_table", sc(SYS_page_unmap, 0, 0x40000000, 0, 0, 0));

	/* --- exofork, env_set_status, env_set_pgfault_upcall --- */
	x = sys_exofork();
	if (x == 0) {
		cprintf("exofork child ran\n");	/* it never should: no memory */
		exit();
	}
	R("exofork_ok", x > 0);
	R("status_99", sc(SYS_env_set_status, x, 99, 0, 0, 0));
	R("status_self_99", sc(SYS_env_set_status, 0, 99, 0, 0, 0));
	R("status_free", sc(SYS_env_set_status, x, ENV_FREE, 0, 0, 0));
	R("status_dying", sc(SYS_env_set_status, x, ENV_DYING, 0, 0, 0));
	R("status_running", sc(SYS_env_set_status, x, ENV_RUNNING, 0, 0, 0));
	R("status_negative", sc(SYS_env_set_status, x, -2, 0, 0, 0));
	R("status_other", sc(SYS_env_set_status, OTHER, ENV_RUNNABLE, 0, 0, 0));
	R("status_bogus", sc(SYS_env_set_status, BOGUS, ENV_RUNNABLE, 0, 0, 0));
	R("upcall_other", sc(SYS_env_set_pgfault_upcall, OTHER, 0x800020, 0, 0, 0));
	R("upcall_bogus", sc(SYS_env_set_pgfault_upcall, BOGUS, 0x800020, 0, 0, 0));
	R("upcall_child_ok", sc(SYS_env_set_pgfault_upcall, x, 0x800020, 0, 0, 0));
	R("x_not_runnable", envs[ENVX(x)].env_status == ENV_NOT_RUNNABLE);
	R("destroy_x", sc(SYS_env_destroy, x, 0, 0, 0, 0));
	R("stale_destroy", sc(SYS_env_destroy, x, 0, 0, 0, 0));
	R("stale_alloc", sc(SYS_page_alloc, x, C, PUW, 0, 0));
	R("stale_status", sc(SYS_env_set_status, x, ENV_RUNNABLE, 0, 0, 0));
	R("stale_send", sc(SYS_ipc_try_send, x, 1, UTOP, 0, 0));

	/* --- ipc --- */
	R("send_other_not_recv", sc(SYS_ipc_try_send, OTHER, 1, UTOP, 0, 0));
	R("send_self_not_recv", sc(SYS_ipc_try_send, 0, 1, UTOP, 0, 0));
	R("send_bogus", sc(SYS_ipc_try_send, BOGUS, 1, UTOP, 0, 0));
	R("recv_unaligned", sc(SYS_ipc_recv, RECV + 1, 0, 0, 0, 0));
	R("recv_unaligned_low", sc(SYS_ipc_recv, 0x123, 0, 0, 0, 0));
	while (!envs[ENVX(kid)].env_ipc_recving)
		sys_yield();
	R("send_src_unaligned", sc(SYS_ipc_try_send, kid, 1, A + 1, PU, 0));
	R("send_src_unmapped", sc(SYS_ipc_try_send, kid, 1, D, PU, 0));
	R("send_bad_perm", sc(SYS_ipc_try_send, kid, 1, A, PU | 0x1000, 0));
	R("send_no_p", sc(SYS_ipc_try_send, kid, 1, A, PTE_U, 0));
	R("send_w_from_ro", sc(SYS_ipc_try_send, kid, 1, B, PUW, 0));
	R("still_recving", envs[ENVX(kid)].env_ipc_recving);
	R("send_ok", sc(SYS_ipc_try_send, kid, 42, B, PU, 0));
	while (!envs[ENVX(kid)].env_ipc_recving)
		sys_yield();
	R("send_page_unwanted", sc(SYS_ipc_try_send, kid, 43, A, PU, 0));
	wait_for(kid);

	/* --- unknown system calls --- */
	R("sys_13", sc(NSYSCALLS, 0, 0, 0, 0, 0));
	R("sys_999", sc(999, 0, 0, 0, 0, 0));
	R("sys_minus1", sc(0xffffffff, 0, 0, 0, 0, 0));
	R("sys_0x80000000", sc(0x80000000, 0, 0, 0, 0, 0));

	/* --- harmless edge cases --- */
	R("cputs_empty", sc(SYS_cputs, 0, 0, 0, 0, 0));
	R("getenvid", sc(SYS_getenvid, 0, 0, 0, 0, 0) == thisenv->env_id);
	R("yield", sc(SYS_yield, 0, 0, 0, 0, 0));
	R("a_still_z", *(volatile char *) A);
	cprintf("badargs done\n");
}
