"""The JOS guest ABI: addresses, page bits, syscall numbers, errors, structs.

This module is the Python side of the contract; ``guest/inc/*.h`` is the C
side.  ``tests/test_abi.py`` compiles a C program that prints the C values and
checks that both agree, so the two cannot drift.

Guest-visible structures are ctypes structures with i386 packing.  The kernel
lays them over guest physical memory (``Struct.from_buffer``) and never keeps
a second Python copy of them.
"""

from __future__ import annotations

import ctypes
import enum

# --- Pages and page tables ---------------------------------------------------
PGSIZE = 4096
PGSHIFT = 12
PTXSHIFT = 12
PDXSHIFT = 22
NPDENTRIES = 1024
NPTENTRIES = 1024
PTSIZE = PGSIZE * NPTENTRIES

PTE_P = 0x001
PTE_W = 0x002
PTE_U = 0x004
PTE_PWT = 0x008
PTE_PCD = 0x010
PTE_A = 0x020
PTE_D = 0x040
PTE_PS = 0x080
PTE_G = 0x100
PTE_AVAIL = 0xE00
PTE_SYSCALL = PTE_AVAIL | PTE_P | PTE_W | PTE_U
PTE_SHARE = 0x400
PTE_COW = 0x800

FEC_PR = 0x1
FEC_WR = 0x2
FEC_U = 0x4


def PDX(va: int) -> int:
    """Page-directory index of a virtual address."""
    return (va >> PDXSHIFT) & 0x3FF


def PTX(va: int) -> int:
    """Page-table index of a virtual address."""
    return (va >> PTXSHIFT) & 0x3FF


def PTE_ADDR(pte: int) -> int:
    """Physical frame address held in a page-table or directory entry."""
    return pte & ~0xFFF & 0xFFFFFFFF


def ROUNDDOWN(a: int, n: int) -> int:
    return a - a % n


def ROUNDUP(a: int, n: int) -> int:
    return ROUNDDOWN(a + n - 1, n)


# --- The address space (see the map in guest/inc/memlayout.h) ----------------
KERNBASE = 0xF0000000
KSTACKTOP = KERNBASE
KSTKSIZE = 8 * PGSIZE  # each CPU's kernel stack
KSTKGAP = 8 * PGSIZE  # and the unmapped guard below it
NCPU = 8  # the most CPUs a machine has (pyjos run --cpus)
MMIOLIM = KSTACKTOP - PTSIZE
ULIM = MMIOLIM - PTSIZE
MMIOBASE = ULIM
UVPT = ULIM - PTSIZE
UVPD = UVPT + (UVPT >> PGSHIFT) * 4
UPAGES = UVPT - PTSIZE
UENVS = UPAGES - PTSIZE
UTOP = UENVS
UXSTACKTOP = UTOP
UTRAMPOLINE = UENVS + 0x20000  # pyjos: `int $0x30` for segment reloads (kernel.py)
UBATCHBUF = 0xE0000000  # pyjos: fork_batch's call buffer (lib/fork.c)
USTACKTOP = UTOP - 2 * PGSIZE
UTEXT = 2 * PTSIZE
UTEMP = PTSIZE
PFTEMP = UTEXT - PGSIZE
USTABDATA = PTSIZE // 2

# --- Segments ----------------------------------------------------------------
GD_KT = 0x08
GD_KD = 0x10
GD_UT = 0x18
GD_UD = 0x20
GD_TSS0 = 0x28
FL_IF = 0x200
FL_IOPL_MASK = 0x3000
FL_NT = 0x4000
FL_RF = 0x10000
FL_VM = 0x20000

# --- Environments ------------------------------------------------------------
LOG2NENV = 10
NENV = 1 << LOG2NENV


def ENVX(envid: int) -> int:
    """Index into envs[] of an env id."""
    return envid & (NENV - 1)


class EnvStatus(enum.IntEnum):
    ENV_FREE = 0
    ENV_DYING = 1
    ENV_RUNNABLE = 2
    ENV_RUNNING = 3
    ENV_NOT_RUNNABLE = 4


ENV_TYPE_USER = 0


# --- Traps -------------------------------------------------------------------
class Trap(enum.IntEnum):
    T_DIVIDE = 0
    T_DEBUG = 1
    T_NMI = 2
    T_BRKPT = 3
    T_OFLOW = 4
    T_BOUND = 5
    T_ILLOP = 6
    T_DEVICE = 7
    T_DBLFLT = 8
    T_TSS = 10
    T_SEGNP = 11
    T_STACK = 12
    T_GPFLT = 13
    T_PGFLT = 14
    T_FPERR = 16
    T_ALIGN = 17
    T_MCHK = 18
    T_SIMDERR = 19
    T_SYSCALL = 48


TRAP_NAMES = {
    0: "Divide error",
    1: "Debug",
    2: "Non-Maskable Interrupt",
    3: "Breakpoint",
    4: "Overflow",
    5: "BOUND Range Exceeded",
    6: "Invalid Opcode",
    7: "Device Not Available",
    8: "Double Fault",
    9: "Coprocessor Segment Overrun",
    10: "Invalid TSS",
    11: "Segment Not Present",
    12: "Stack Fault",
    13: "General Protection",
    14: "Page Fault",
    15: "(unknown trap)",
    16: "x87 FPU Floating-Point Error",
    17: "Alignment Check",
    18: "Machine-Check",
    19: "SIMD Floating-Point Exception",
    48: "System call",
}


def trapname(trapno: int) -> str:
    """JOS's name for a trap number."""
    return TRAP_NAMES.get(trapno, "(unknown trap)")


# --- System calls ------------------------------------------------------------
class Sys(enum.IntEnum):
    SYS_cputs = 0
    SYS_cgetc = 1
    SYS_getenvid = 2
    SYS_env_destroy = 3
    SYS_page_alloc = 4
    SYS_page_map = 5
    SYS_page_unmap = 6
    SYS_exofork = 7
    SYS_env_set_status = 8
    SYS_env_set_pgfault_upcall = 9
    SYS_yield = 10
    SYS_ipc_try_send = 11
    SYS_ipc_recv = 12
    # pyjos's own calls, numbered after JOS's (inc/syscall.h, inc/batch.h)
    SYS_batch = 13
    SYS_fork = 14


NSYSCALLS = 15

# sys_batch (see guest/inc/batch.h)
BATCH_MAX = 4096  # calls in one batch
BATCH_CONTINUE = 0x1  # flag: run the remaining calls after an error


# --- fork() strategies (enum fork_strategy in guest/inc/lib.h) ---------------
class ForkStrategy(enum.IntEnum):
    """What the library's fork() does; the loader stores one into
    FORK_STRATEGY_SYMBOL (`pyjos run --fork NAME`)."""

    FORK_DUMB = 0
    FORK_COW = 1
    FORK_BATCH = 2
    FORK_KERNEL = 3
    FORK_ODF = 4


FORK_STRATEGY_SYMBOL = "pyjos_fork_strategy"
# The one table of fork strategies: CLI choices, benchmarks and tests derive from it.
FORK_STRATEGIES: dict[str, str] = {
    "dumb": "eager copy of every page (dumbfork)",
    "cow": "user-level copy-on-write, one system call per page (JOS; the default)",
    "batch": "user-level copy-on-write sent in batched system calls",
    "kernel": "the kernel's sys_fork: copy-on-write in one trap",
    "odf": "on-demand fork (EuroSys 2021): sys_fork sharing the page tables copy-on-write",
}
# sfork is no strategy of fork() but a fork of its own (shared memory); the
# fork benchmark compares it with the strategies.
FORK_KINDS: tuple[str, ...] = (*FORK_STRATEGIES, "sfork")


def fork_strategy(name: str) -> ForkStrategy:
    """The enum value of a strategy named in FORK_STRATEGIES."""
    return ForkStrategy[f"FORK_{name.upper()}"]


# --- Errors (returned negated) -----------------------------------------------
class Err(enum.IntEnum):
    E_UNSPECIFIED = 1
    E_BAD_ENV = 2
    E_INVAL = 3
    E_NO_MEM = 4
    E_NO_FREE_ENV = 5
    E_FAULT = 6
    E_IPC_NOT_RECV = 7
    E_EOF = 8


E_UNSPECIFIED = Err.E_UNSPECIFIED
E_BAD_ENV = Err.E_BAD_ENV
E_INVAL = Err.E_INVAL
E_NO_MEM = Err.E_NO_MEM
E_NO_FREE_ENV = Err.E_NO_FREE_ENV
E_FAULT = Err.E_FAULT
E_IPC_NOT_RECV = Err.E_IPC_NOT_RECV


# --- Structures --------------------------------------------------------------
class _GuestStruct(ctypes.LittleEndianStructure):
    _pack_ = 1


class BatchCall(ctypes.LittleEndianStructure):
    _pack_ = 1
    _fields_ = [
        ("bc_num", ctypes.c_uint32),
        ("bc_args", ctypes.c_uint32 * 5),
        ("bc_result", ctypes.c_int32),
    ]


class PushRegs(_GuestStruct):
    _fields_ = [
        ("reg_edi", ctypes.c_uint32),
        ("reg_esi", ctypes.c_uint32),
        ("reg_ebp", ctypes.c_uint32),
        ("reg_oesp", ctypes.c_uint32),
        ("reg_ebx", ctypes.c_uint32),
        ("reg_edx", ctypes.c_uint32),
        ("reg_ecx", ctypes.c_uint32),
        ("reg_eax", ctypes.c_uint32),
    ]


class Trapframe(_GuestStruct):
    _fields_ = [
        ("tf_regs", PushRegs),
        ("tf_es", ctypes.c_uint16),
        ("tf_padding1", ctypes.c_uint16),
        ("tf_ds", ctypes.c_uint16),
        ("tf_padding2", ctypes.c_uint16),
        ("tf_trapno", ctypes.c_uint32),
        ("tf_err", ctypes.c_uint32),
        ("tf_eip", ctypes.c_uint32),
        ("tf_cs", ctypes.c_uint16),
        ("tf_padding3", ctypes.c_uint16),
        ("tf_eflags", ctypes.c_uint32),
        ("tf_esp", ctypes.c_uint32),
        ("tf_ss", ctypes.c_uint16),
        ("tf_padding4", ctypes.c_uint16),
    ]


class UTrapframe(_GuestStruct):
    _fields_ = [
        ("utf_fault_va", ctypes.c_uint32),
        ("utf_err", ctypes.c_uint32),
        ("utf_regs", PushRegs),
        ("utf_eip", ctypes.c_uint32),
        ("utf_eflags", ctypes.c_uint32),
        ("utf_esp", ctypes.c_uint32),
    ]


class Env(_GuestStruct):
    _fields_ = [
        ("env_tf", Trapframe),
        ("env_link", ctypes.c_uint32),
        ("env_id", ctypes.c_int32),
        ("env_parent_id", ctypes.c_int32),
        ("env_type", ctypes.c_uint32),
        ("env_status", ctypes.c_uint32),
        ("env_runs", ctypes.c_uint32),
        ("env_cpunum", ctypes.c_int32),
        ("env_pgdir", ctypes.c_uint32),
        ("env_pgfault_upcall", ctypes.c_uint32),
        ("env_ipc_recving", ctypes.c_uint8),
        ("env_padding1", ctypes.c_uint8 * 3),
        ("env_ipc_dstva", ctypes.c_uint32),
        ("env_ipc_value", ctypes.c_uint32),
        ("env_ipc_from", ctypes.c_int32),
        ("env_ipc_perm", ctypes.c_int32),
    ]


class PageInfo(_GuestStruct):
    _fields_ = [
        ("pp_link", ctypes.c_uint32),
        ("pp_ref", ctypes.c_uint16),
        ("pp_padding", ctypes.c_uint16),
    ]


def offset_of(struct: type[ctypes.Structure], path: str) -> int:
    """Byte offset of a (dotted) field: offset_of(Trapframe, "tf_regs.reg_eax") == 28."""
    off = 0
    for name in path.split("."):
        field = getattr(struct, name)
        off += field.offset
        struct = dict(struct._fields_)[name]
    return off


assert [fork_strategy(n).name for n in FORK_STRATEGIES] == [m.name for m in ForkStrategy]
assert ctypes.sizeof(PushRegs) == 32
assert ctypes.sizeof(Trapframe) == 68
assert ctypes.sizeof(UTrapframe) == 52
assert ctypes.sizeof(Env) == 124
assert ctypes.sizeof(PageInfo) == 8
assert ctypes.sizeof(BatchCall) == 28
