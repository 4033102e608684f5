/*
 * pyjos's lock-prefix check.  On an i386 a `lock` prefix is valid only on
 * ADD ADC AND BTC BTR BTS CMPXCHG CMPXCHG8B DEC INC NEG NOT OR SBB SUB XOR
 * XADD XCHG with a memory destination; anywhere else it raises #UD.
 * Unicorn 2.1.4 (QEMU 5) runs most other locked instructions as if
 * unprefixed (`lock mov %eax,%eax`).  No hook sees a prefix, so this file
 * has a small x86-32 instruction length decoder, and a
 * UC_HOOK_EDGE_GENERATED callback (Unicorn calls it each time it has just
 * translated a block, before the block first runs) that decodes every new
 * block.  A block with a bad `lock` is not run: the callback notes the
 * instruction's address and stops the CPU; the machine puts a code hook on
 * that address (pyjos_lock_code_hook below confirms the instruction each
 * time it is reached) and drops its translations.  Blocks that are already
 * translated run at full speed: the check costs nothing per block executed.
 *
 * No #include, as host/preempt.c: the types come from the compiler.
 */
typedef __UINT64_TYPE__ uint64_t;
typedef __UINT32_TYPE__ uint32_t;
typedef __UINT16_TYPE__ uint16_t;
typedef __UINT8_TYPE__ uint8_t;
typedef __SIZE_TYPE__ size_t;

#define MAX_INSN 15
#define UC_PROT_EXEC 4

/* Unicorn's uc_tb (unicorn.h). */
struct uc_tb {
	uint64_t pc;
	uint16_t icount;
	uint16_t size;
};

#define NHOOKED 32

struct pyjos_lockcheck {
	/* uc_vmem_read and uc_emu_stop, passed in by the machine */
	int (*vmem_read)(void *uc, uint64_t va, int prot, void *buf, size_t n);
	int (*stop)(void *uc);
	uint32_t found;              /* 1: a new block holds a bad lock at found_eip */
	uint32_t found_eip;
	uint32_t nhooked;            /* addresses that already have a code hook */
	uint32_t hooked[NHOOKED];
	uint32_t fault;              /* 1: the code hook met a bad lock (stopped there) */
	uint32_t pad;
	uint64_t blocks;             /* blocks decoded */
	uint64_t insns;              /* instructions decoded */
	uint64_t mismatches;         /* blocks whose decoded count is not Unicorn's */
	uint64_t unreadable;         /* blocks whose bytes could not be read */
};

/* --- the length decoder ---------------------------------------------------- */

enum {
	M = 0x01,      /* a ModRM byte (and SIB, displacement) follows */
	I8 = 0x02,     /* imm8 */
	I16 = 0x04,    /* imm16 */
	IZ = 0x08,     /* imm16 or imm32 (operand size) */
	AP = 0x10,     /* far pointer: 4 or 6 bytes (operand size) */
	MO = 0x20,     /* moffs: 2 or 4 bytes (address size) */
	G3 = 0x40,     /* group 3 (F6/F7): imm only for /0 and /1 */
	PX = 0x80,     /* a prefix byte */
};

static const uint8_t one_byte[256] = {
	[0x00 ... 0x03] = M, [0x04] = I8, [0x05] = IZ,
	[0x08 ... 0x0b] = M, [0x0c] = I8, [0x0d] = IZ,
	[0x10 ... 0x13] = M, [0x14] = I8, [0x15] = IZ,
	[0x18 ... 0x1b] = M, [0x1c] = I8, [0x1d] = IZ,
	[0x20 ... 0x23] = M, [0x24] = I8, [0x25] = IZ, [0x26] = PX,
	[0x28 ... 0x2b] = M, [0x2c] = I8, [0x2d] = IZ, [0x2e] = PX,
	[0x30 ... 0x33] = M, [0x34] = I8, [0x35] = IZ, [0x36] = PX,
	[0x38 ... 0x3b] = M, [0x3c] = I8, [0x3d] = IZ, [0x3e] = PX,
	[0x62 ... 0x63] = M, [0x64 ... 0x67] = PX,
	[0x68] = IZ, [0x69] = M | IZ, [0x6a] = I8, [0x6b] = M | I8,
	[0x70 ... 0x7f] = I8,
	[0x80] = M | I8, [0x81] = M | IZ, [0x82 ... 0x83] = M | I8,
	[0x84 ... 0x8f] = M,
	[0x9a] = AP,
	[0xa0 ... 0xa3] = MO, [0xa8] = I8, [0xa9] = IZ,
	[0xb0 ... 0xb7] = I8, [0xb8 ... 0xbf] = IZ,
	[0xc0 ... 0xc1] = M | I8, [0xc2] = I16, [0xc4 ... 0xc5] = M,
	[0xc6] = M | I8, [0xc7] = M | IZ, [0xc8] = I16 | I8, [0xca] = I16,
	[0xcd] = I8,
	[0xd0 ... 0xd3] = M, [0xd4 ... 0xd5] = I8, [0xd8 ... 0xdf] = M,
	[0xe0 ... 0xe7] = I8, [0xe8 ... 0xe9] = IZ, [0xea] = AP, [0xeb] = I8,
	[0xf0] = PX, [0xf2 ... 0xf3] = PX,
	[0xf6] = M | G3 | I8, [0xf7] = M | G3 | IZ,
	[0xfe ... 0xff] = M,
};

static const uint8_t two_byte[256] = {   /* after 0x0f */
	[0x00 ... 0x03] = M, [0x0d] = M, [0x0f] = M | I8 /* 3DNow! */,
	[0x10 ... 0x2f] = M,
	[0x40 ... 0x6f] = M, [0x70 ... 0x73] = M | I8, [0x74 ... 0x76] = M,
	[0x78 ... 0x7f] = M,
	[0x80 ... 0x8f] = IZ,
	[0x90 ... 0x9f] = M, [0xa3] = M, [0xa4] = M | I8, [0xa5] = M,
	[0xab] = M, [0xac] = M | I8, [0xad ... 0xaf] = M,
	[0xb0 ... 0xb9] = M, [0xba] = M | I8, [0xbb ... 0xc1] = M,
	[0xc2] = M | I8, [0xc3] = M, [0xc4 ... 0xc6] = M | I8, [0xc7] = M,
	[0xd0 ... 0xff] = M,
};

/* Lockable forms: bit r of the mask is set if the opcode with ModRM.reg = r
 * and a memory operand may take `lock`. */
static const uint8_t lock_one[256] = {
	[0x00 ... 0x01] = 0xff, [0x08 ... 0x09] = 0xff, [0x10 ... 0x11] = 0xff,
	[0x18 ... 0x19] = 0xff, [0x20 ... 0x21] = 0xff, [0x28 ... 0x29] = 0xff,
	[0x30 ... 0x31] = 0xff,
	[0x80 ... 0x83] = 0x7f,              /* /7 is CMP */
	[0x86 ... 0x87] = 0xff,              /* XCHG */
	[0xf6 ... 0xf7] = 0x0c,              /* NOT, NEG */
	[0xfe ... 0xff] = 0x03,              /* INC, DEC */
};

static const uint8_t lock_two[256] = {
	[0xab] = 0xff, [0xb3] = 0xff, [0xbb] = 0xff,  /* BTS, BTR, BTC */
	[0xba] = 0xe0,                                /* BTS, BTR, BTC imm8 */
	[0xb0 ... 0xb1] = 0xff, [0xc0 ... 0xc1] = 0xff, /* CMPXCHG, XADD */
	[0xc7] = 0x02,                                /* CMPXCHG8B */
};

/* Bytes of ModRM, SIB and displacement at p (n bytes readable), or -1. */
static int
modrm_length(const uint8_t *p, int n, int addr16, int reg_only)
{
	int mod, rm;

	if (n < 1)
		return -1;
	mod = p[0] >> 6;
	rm = p[0] & 7;
	if (mod == 3 || reg_only)
		return 1;
	if (addr16)
		return 1 + (mod == 1 ? 1 : mod == 2 || rm == 6 ? 2 : 0);
	if (rm == 4) {
		if (n < 2)
			return -1;
		if (mod == 0)
			return 2 + ((p[1] & 7) == 5 ? 4 : 0);
		return 2 + (mod == 1 ? 1 : 4);
	}
	return 1 + (mod == 1 ? 1 : mod == 2 || rm == 5 ? 4 : 0);
}

/* Immediate bytes for table flags f. */
static int
imm_length(uint8_t f, int op16, int addr16, int reg)
{
	int len = 0;

	if ((f & G3) && reg > 1)
		return 0;
	if (f & I8)
		len += 1;
	if (f & I16)
		len += 2;
	if (f & IZ)
		len += op16 ? 2 : 4;
	if (f & AP)
		len += op16 ? 4 : 6;
	if (f & MO)
		len += addr16 ? 2 : 4;
	return len;
}

/*
 * The length of the 32-bit-mode instruction at p (n bytes readable, at most
 * 15 used), or 0 if it is cut off or longer than 15 bytes.  *bad_lock is set
 * to 1 if it has a `lock` prefix an i386 refuses (#UD), else 0.
 */
int
pyjos_insn_decode(const uint8_t *p, int n, int *bad_lock)
{
	int i = 0, op16 = 0, addr16 = 0, lock = 0, lockable = 0;
	int reg = 0, mlen = 0, reg_only = 0;
	const uint8_t *table = one_byte, *locks = lock_one;
	uint8_t op, f;

	*bad_lock = 0;
	if (n > MAX_INSN)
		n = MAX_INSN;
	for (; i < n && (one_byte[p[i]] & PX); i++) {
		op16 |= p[i] == 0x66;
		addr16 |= p[i] == 0x67;
		lock |= p[i] == 0xf0;
	}
	if (i >= n)
		return 0;
	op = p[i++];
	if ((op == 0xc4 || op == 0xc5) && i < n && (p[i] >> 6) == 3) {
		/* VEX (no i386 has it): C5 R.vvvv.L.pp, or C4 RXB.map W.vvvv.L.pp */
		int map = op == 0xc5 ? 1 : p[i] & 0x1f;

		i += op == 0xc5 ? 1 : 2;
		if (i >= n)
			return 0;
		op = p[i++];
		f = map == 1 ? (op == 0x77 ? 0 : two_byte[op] | M) : map == 3 ? M | I8 : M;
		table = 0;
	} else if (op == 0x0f) {
		if (i >= n)
			return 0;
		op = p[i++];
		if (op == 0x38 || op == 0x3a) {
			if (i >= n)
				return 0;
			f = op == 0x38 ? M : M | I8;
			i++;
			table = 0;
		} else {
			table = two_byte;
			locks = lock_two;
			reg_only = op >= 0x20 && op <= 0x26;  /* mov to/from cr, dr, tr */
		}
	}
	if (table)
		f = table[op];
	if (f & M) {
		if (i >= n)
			return 0;
		reg = (p[i] >> 3) & 7;
		mlen = modrm_length(p + i, n - i, addr16, reg_only);
		if (mlen < 0)
			return 0;
		lockable = table && (p[i] >> 6) != 3 && (locks[op] >> reg & 1);
		i += mlen;
	}
	i += imm_length(f, op16, addr16, reg);
	if (i > n)
		return 0;
	*bad_lock = lock && !lockable;
	return i;
}

/* --- the hooks ------------------------------------------------------------- */

static int
hooked(const struct pyjos_lockcheck *c, uint32_t eip)
{
	for (uint32_t k = 0; k < c->nhooked; k++)
		if (c->hooked[k] == eip)
			return 1;
	return 0;
}

/* UC_HOOK_EDGE_GENERATED: Unicorn has just translated the block `cur`, which
 * runs next.  Decode it; on a bad lock that has no code hook yet, stop the
 * CPU before the block runs (EIP stays at its start) and say where. */
void
pyjos_lock_edge_hook(void *uc, struct uc_tb *cur, struct uc_tb *prev, void *user_data)
{
	struct pyjos_lockcheck *c = user_data;
	uint8_t code[2 * 4096];   /* a block spans at most two pages */
	int off = 0, count = 0, bad, len;

	(void) prev;
	if (cur->size == 0 || cur->size > sizeof code
	    || c->vmem_read(uc, cur->pc, UC_PROT_EXEC, code, cur->size)) {
		c->unreadable++;
		return;
	}
	c->blocks++;
	while (off < cur->size) {
		len = pyjos_insn_decode(code + off, cur->size - off, &bad);
		if (len == 0)
			break;   /* the block ends inside an instruction Unicorn refused */
		if (bad && !hooked(c, (uint32_t) cur->pc + off)) {
			c->found = 1;
			c->found_eip = (uint32_t) cur->pc + off;
			c->stop(uc);
			return;
		}
		off += len;
		count++;
	}
	c->insns += count;
	if (count != cur->icount && !(count + 1 == cur->icount && off < cur->size))
		c->mismatches++;
}

/* UC_HOOK_CODE on an address where a bad lock was found (in some address
 * space): if the instruction there now is one, stop before it. */
void
pyjos_lock_code_hook(void *uc, uint64_t address, uint32_t size, void *user_data)
{
	struct pyjos_lockcheck *c = user_data;
	uint8_t code[MAX_INSN];
	int n, bad = 0;

	(void) size;
	n = MAX_INSN;
	/* the instruction may end before the next page, which may be unmapped */
	if (c->vmem_read(uc, address, UC_PROT_EXEC, code, n)) {
		n = 0x1000 - (int) (address & 0xfff);
		if (n > MAX_INSN || c->vmem_read(uc, address, UC_PROT_EXEC, code, n))
			return;
	}
	pyjos_insn_decode(code, n, &bad);
	if (bad) {
		c->fault = 1;
		c->stop(uc);
	}
}
