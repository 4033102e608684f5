// The guest half of `pyjos fuzz`: random system calls with edge values.
//
//   fuzz SEED CALLS    issue CALLS raw system calls (alone and in batches),
//                      forking children that fuzz, fault, receive pages or
//                      spin, passing pages; destroy every child at the end
//   fuzz bystander     check its own memory and registers across yields
//                      until it is the last env; print its verdict
//
// Everything is drawn from a xorshift generator seeded by SEED, so a run
// is reproducible (the kernel's timer counts instructions).
#include <inc/lib.h>
#include <inc/batch.h>
#include <inc/rawsyscall.h>

#define SCRATCH		0x10000000	/* the fuzzer's own pages */
#define NSCRATCH	64
#define RECV_VA		0x20000000	/* where children accept pages */
#define MAXKIDS		8
#define PUW		(PTE_P | PTE_U | PTE_W)

static uint32_t rng;
static envid_t kids[MAXKIDS];
static int nkids;
static long made;	/* calls made, alone or in batches */
static struct BatchCall batch[64];

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static int32_t
sc(uint32_t num, uint32_t a1, uint32_t a2, uint32_t a3, uint32_t a4, uint32_t a5)
{
	made++;
	return sys_raw(num, a1, a2, a3, a4, a5);
}

/* An address: mostly our scratch pages, often an edge (never our own
 * text, data or stack, which would only end the fuzzer). */
static uint32_t
any_va(void)
{
	static const uint32_t edges[] = {
		0, 1, PGSIZE - 1, PGSIZE, (uint32_t) UTEMP, USTACKTOP, UTOP - 1, UTOP,
		UTOP + PGSIZE, UENVS, UPAGES, UVPT, UVPT + PGSIZE, UVPT + PDX(UVPT) * PGSIZE,
		ULIM - 4, ULIM, KERNBASE, KERNBASE + PGSIZE, 0xFFFFF000, 0xFFFFFFFF,
		RECV_VA, RECV_VA + 2, 0x7FFFFFFF, 0x80000000,
	};
	uint32_t r = rnd();

	if (r % 4)
		return SCRATCH + (rnd() % NSCRATCH) * PGSIZE + (r % 16 == 1 ? rnd() % PGSIZE : 0);
	return edges[(r >> 4) % ARRAY_SIZE(edges)];
}

static uint32_t
any_perm(void)
{
	static const uint32_t perms[] = {
		PTE_P | PTE_U, PUW, PUW | PTE_SHARE, PTE_P | PTE_U | PTE_COW, 0, PTE_P, PTE_U,
		PUW | PTE_PCD, 0xFFFFFFFF, PTE_SYSCALL, PUW | 0x1000,
	};
	return perms[rnd() % ARRAY_SIZE(perms)];
}

/* An env id: 0, ourselves, a child, any slot of envs[], or junk. */
static uint32_t
any_env(void)
{
	uint32_t r = rnd();

	switch (r % 8) {
	case 0: return 0;
	case 1: return thisenv->env_id;
	case 2: case 3: return nkids ? kids[(r >> 3) % nkids] : 0;
	case 4: return envs[(r >> 3) % NENV].env_id;
	case 5: return 0xFFFFFFFF;
	case 6: return envs[(r >> 3) % NENV].env_id + (1 << 12);
	default: return thisenv->env_parent_id;
	}
}

/* A child we may hurt: destroy, stop or redirect (never ourselves). */
static uint32_t
victim(void)
{
	envid_t id = nkids && rnd() % 4 ? kids[rnd() % nkids] : envs[rnd() % NENV].env_id;

	return id == 0 || id == thisenv->env_id ? 0xFFFFFFFF : id;
}

/* One random call's number and arguments: nothing that blocks or forks
 * (a destroy or a stop aims at another env). */
static void
random_call(uint32_t *num, uint32_t a[5])
{
	int i;

	for (i = 0; i < 5; i++)
		a[i] = rnd() % 3 ? any_va() : rnd();
	switch (rnd() % 16) {
	case 0: *num = SYS_cputs; a[0] = (uint32_t) "";	/* a bad string kills us */
		a[1] = rnd() % 2; break;
	case 1: *num = SYS_getenvid; break;
	case 2: case 3: *num = SYS_page_alloc; a[0] = any_env(); a[1] = any_va();
		a[2] = any_perm(); break;
	case 4: case 5: case 6: *num = SYS_page_map; a[0] = any_env(); a[1] = any_va();
		a[2] = any_env(); a[3] = any_va(); a[4] = any_perm(); break;
	case 7: case 8: *num = SYS_page_unmap; a[0] = any_env(); a[1] = any_va(); break;
	case 9: *num = SYS_env_set_status; a[0] = victim();
		a[1] = rnd() % 2 ? ENV_RUNNABLE : rnd() % 8; break;
	case 10: *num = SYS_env_set_pgfault_upcall; a[0] = victim(); a[1] = any_va(); break;
	case 11: *num = SYS_ipc_try_send; a[0] = any_env(); a[1] = rnd(); a[2] = any_va();
		a[3] = any_perm(); break;
	case 12: *num = SYS_env_destroy; a[0] = victim(); break;
	case 13: *num = SYS_yield; break;
	case 14: *num = rnd() % 2 ? NSYSCALLS + rnd() % 8 : rnd(); break;
	default: *num = SYS_cgetc; break;
	}
}

static void
one_call(void)
{
	uint32_t num, a[5];

	random_call(&num, a);
	sc(num, a[0], a[1], a[2], a[3], a[4]);
}

static void
one_batch(void)
{
	static const int32_t counts[] = { 0, -1, BATCH_MAX + 1, 0x7FFFFFFF };
	int i, n = 1 + rnd() % ARRAY_SIZE(batch);
	uint32_t where = (uint32_t) batch, r = rnd();

	for (i = 0; i < n; i++)
		random_call(&batch[i].bc_num, batch[i].bc_args);
	if (r % 16 == 0)
		where = any_va();	/* descriptors somewhere else */
	if (r % 32 == 1) {
		sc(SYS_batch, where, counts[(r >> 5) % ARRAY_SIZE(counts)], 0, 0, 0);
		return;
	}
	n = sc(SYS_batch, where, n, (r >> 8) % 4 ? BATCH_CONTINUE : (r >> 8) % 8, 0, 0);
	if (n > 1)
		made += n - 1;	/* the calls that ran; the trap counted one */
}

/* --- children ---------------------------------------------------------------------- */
static void
child_receive(void)
{
	int i, perm;

	for (i = 0; i < 3; i++) {
		ipc_recv(0, (void *) RECV_VA, &perm);
		if (perm)
			(void) *(volatile uint32_t *) RECV_VA;
	}
}

static void
child(void)
{
	int i;

	nkids = 0;
	rng ^= thisenv->env_id * 0x9e3779b9u;
	if (rng == 0)
		rng = 1;
	switch (rnd() % 5) {
	case 0:
		*(volatile uint32_t *) KERNBASE = 1;	/* dies */
		break;
	case 1:
		child_receive();
		break;
	case 2:
		for (i = 0; i < 20; i++)
			sys_yield();
		break;
	default:
		for (i = 0; i < 200; i++)
			rnd() % 4 ? one_call() : one_batch();
	}
	sys_env_destroy(0);
}

static void
reap(void)
{
	while (nkids)
		sys_env_destroy(kids[--nkids]);
}

static void
spawn(void)
{
	envid_t id;

	if (nkids == MAXKIDS)
		sys_env_destroy(kids[--nkids]);
	if (rnd() % 4 == 0)
		id = sys_exofork();	/* an empty child: its "return" never runs */
	else
		id = fork();
	if (id == 0)
		child();
	if (id > 0)
		kids[nkids++] = id;
}

static void
send_page(void)
{
	envid_t to = nkids ? kids[rnd() % nkids] : 0;

	sys_page_alloc(0, (void *) SCRATCH, PUW);
	sc(SYS_ipc_try_send, to, rnd(), rnd() % 4 ? SCRATCH : any_va(), any_perm(), 0);
}

static void
fuzz(long calls)
{
	uint32_t r;

	while (made < calls) {
		r = rnd() % 256;
		if (r < 2)
			spawn();
		else if (r < 6)
			send_page();
		else if (r < 64)
			one_call();
		else
			one_batch();
	}
	reap();
	cprintf("fuzz %08x: %ld calls\n", thisenv->env_id, made);
}

/* --- the bystander -------------------------------------------------------------------- */
static uint32_t pattern[2048];

static int
others_alive(void)
{
	int i;

	for (i = 0; i < NENV; i++)
		if (envs[i].env_status != ENV_FREE && envs[i].env_id != thisenv->env_id)
			return 1;
	return 0;
}

/* Yield with known values in the callee-saved registers; 0 if they came back. */
static int
yield_keeps_registers(void)
{
	uint32_t b, s, d;

	asm volatile("movl $0x0b0b0b0b, %%ebx\n\tmovl $0x5151515, %%esi\n\t"
		     "movl $0xd1d1d1d1, %%edi\n\tint $0x30"
		     : "=b" (b), "=S" (s), "=D" (d)
		     : "a" (SYS_yield)
		     : "ecx", "edx", "cc", "memory");
	return b != 0x0b0b0b0b || s != 0x5151515 || d != 0xd1d1d1d1;
}

static void
bystander(void)
{
	int i, n = 0, bad = 0;
	uint32_t seed = 0x12345678;

	for (i = 0; i < ARRAY_SIZE(pattern); i++)
		pattern[i] = seed = seed * 1103515245 + 12345;
	while (others_alive()) {
		bad += yield_keeps_registers();
		n++;
	}
	seed = 0x12345678;
	for (i = 0; i < ARRAY_SIZE(pattern); i++) {
		seed = seed * 1103515245 + 12345;
		bad += pattern[i] != seed;
	}
	if (bad)
		cprintf("bystander complaint: %d changes seen in %d yields\n", bad, n);
	else
		cprintf("bystander ok: %d yields\n", n);
}

void
umain(int argc, char **argv)
{
	if (argc > 1 && strcmp(argv[1], "bystander") == 0) {
		bystander();
		return;
	}
	if (argc < 3)
		panic("usage: fuzz SEED CALLS | fuzz bystander");
	rng = (uint32_t) strtol(argv[1], 0, 0) * 2654435761u + thisenv->env_id;
	if (rng == 0)
		rng = 1;
	fuzz(strtol(argv[2], 0, 0));
}
