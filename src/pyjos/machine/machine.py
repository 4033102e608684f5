"""The machine: one i386 CPU (Unicorn) over a physical-memory buffer.

This layer knows x86, not JOS.  It owns

* physical memory (``PhysMem``): an anonymous mmap that each CPU maps into its
  Unicorn instance with ``mem_map_ptr`` at physical address 0, read and
  written by the kernel without any Unicorn call (``struct`` / ctypes views);
* the GDT and a supervisor stub that enters ring 3 with ``iret`` once;
* one ``UC_HOOK_INTR`` hook through which every trap reaches the kernel inline,
  plus ``UC_HOOK_INSN_INVALID`` for ``ud2`` (Unicorn reports it nowhere else);
* fast register access through raw ctypes batches, including batches bound to
  a register frame in guest memory (``FrameSlots``);
* the Unicorn workarounds of ARCHITECTURE.md: the #PF/#GP error code read out
  of the saved context (offsets self-calibrated at boot), QEMU's
  ``old_exception`` cleared after a hooked fault, resuming after a silent
  triple-fault stop, and segment loads deferred to a trampoline trap when the
  CPU is outside a hook (``load_frame``);
* #UD for a ``lock`` prefix an i386 refuses (``install_lock_check``).
"""

from __future__ import annotations

import ctypes
import mmap
import struct
from collections.abc import Callable

import unicorn
from unicorn import Uc, UcError, unicorn_const as ucc, x86_const as x86
from unicorn.unicorn_py3.unicorn import uclib

from ..abi import FL_IF, FL_IOPL_MASK, FL_NT, FL_RF, FL_VM, GD_KD, GD_KT, GD_UD, GD_UT, KERNBASE, PGSIZE
from . import regfile
from .codewatch import CodeWatch
from .lockcheck import LockCheck

UNICORN_VERSION = unicorn.__version__
PINNED_UNICORN = "2.1.4"

CR0_PE = 0x00000001
CR0_TS = 0x00000008
CR0_WP = 0x00010000
CR0_PG = 0x80000000
# EFLAGS bits an env may never run with (a ring-3 iret on Unicorn can set them,
# a real i386 at IOPL 0 cannot) and the one it always has.
FL_USER_NEVER = FL_RF | FL_VM | FL_NT | FL_IOPL_MASK
USER_CS, USER_DS = GD_UT | 3, GD_UD | 3
_USER_DATA_SELECTORS = (USER_DS, 0, 1, 2, 3)  # null selectors: any RPL

# Offsets measured from the END of the saved context blob (unicorn 2.0-2.1.x;
# see ARCHITECTURE.md).  calibrate() checks them against probe faults.
CTX_ERROR_CODE_FROM_END = 184
CTX_EXCEPTION_IS_INT_FROM_END = 180
CTX_OLD_EXCEPTION_FROM_END = 72
_FAULT_FIELDS_FROM_END = (CTX_ERROR_CODE_FROM_END, CTX_EXCEPTION_IS_INT_FROM_END,
                          CTX_OLD_EXCEPTION_FROM_END)

# Trap numbers that leave QEMU's old_exception set (page fault and the
# "contributory" exceptions), which turns the next fault into a double fault.
_SETS_OLD_EXCEPTION = frozenset({0, 10, 11, 12, 13, 14})

# Physical page 0 holds the GDT (at 0), the ring-3 entry stub (at STUB_OFF)
# and the stub's iret frame (at the top of the page).  Page 0 is never given
# to the page allocator.
GDT_OFF = 0x000
STUB_OFF = 0x100
BOOT_PAGE = 0
_T_ILLOP = 6
_MAX_RESTARTS = 4
_T_SYSCALL = 48
_U32 = struct.Struct("<I")
_SYSCALL_WORDS = struct.Struct("<4Q16x2Q")  # regs[]: eax ecx edx ebx, (esp ebp), esi edi
# `int $0x30`: the trampoline through which a resume from outside a hook loads
# segment registers (see Machine.load_frame).
TRAMPOLINE_CODE = b"\xcd\x30"


# Calibration probes, at user va 0x800000 with 0x801000 mapped read-only and
# 0x802000 not mapped: each faulting instruction is 5 bytes long.
_PROBE_CODE = (
    b"\xa3" + struct.pack("<I", 0x00801000)  # write read-only page: err 7
    + b"\xa1" + struct.pack("<I", 0x00802000)  # read not-present: err 4
    + b"\xa3" + struct.pack("<I", 0x00802000)  # write not-present: err 6
    + b"\xa1" + struct.pack("<I", KERNBASE)  # read supervisor page: err 5
    + b"\xcd\x0e"  # int $14 from user: is_int set
    + b"\xcd\x30"  # int $0x30: done
)
_PROBE_EXPECT = [
    (14, 7, False, 0x00801000),
    (14, 4, False, 0x00802000),
    (14, 6, False, 0x00802000),
    (14, 5, False, KERNBASE),
    (14, 0, True, KERNBASE),  # cr2 unchanged; no error code
]


def _seg_desc(dpl: int, code: bool) -> int:
    """A flat 4 GiB 32-bit segment descriptor, marked accessed (so loading it,
    as reset_user_mode does, never writes the GDT)."""
    access = 0x80 | (dpl << 5) | 0x10 | (0x0B if code else 0x03)
    return 0x0000FFFF | (access << 40) | (0xCF << 48)


# GDT as JOS lays it out: null, kernel code/data, user code/data, and a null
# slot where JOS keeps its TSS (so loading selector 0x28 is a #GP(0x28)).
GDT = [0, _seg_desc(0, True), _seg_desc(0, False), _seg_desc(3, True), _seg_desc(3, False), 0]
GDT_LIMIT = len(GDT) * 8 - 1

# mov $GD_UD|3,%ax; mov %ax,%ds; mov %ax,%es; mov %ax,%fs; mov %ax,%gs; iret
STUB_CODE = (
    b"\x66\xb8" + struct.pack("<H", GD_UD | 3) + b"\x8e\xd8\x8e\xc0\x8e\xe0\x8e\xe8" + b"\xcf"
)

# Registers saved and restored on a context switch (the JOS Trapframe subset
# that can change in ring 3).
FRAME_REGS = (
    x86.UC_X86_REG_EDI,
    x86.UC_X86_REG_ESI,
    x86.UC_X86_REG_EBP,
    x86.UC_X86_REG_EBX,
    x86.UC_X86_REG_EDX,
    x86.UC_X86_REG_ECX,
    x86.UC_X86_REG_EAX,
    x86.UC_X86_REG_EIP,
    x86.UC_X86_REG_EFLAGS,
    x86.UC_X86_REG_ESP,
)
# What a fault needs, in one register batch: the frame, then cs, ss and cr2.
TRAP_STATE_REGS = FRAME_REGS + (x86.UC_X86_REG_CS, x86.UC_X86_REG_SS, x86.UC_X86_REG_CR2)
# System-call argument registers, in JOS order: eax, edx, ecx, ebx, edi, esi.
SYSCALL_REGS = (
    x86.UC_X86_REG_EAX,
    x86.UC_X86_REG_EDX,
    x86.UC_X86_REG_ECX,
    x86.UC_X86_REG_EBX,
    x86.UC_X86_REG_EDI,
    x86.UC_X86_REG_ESI,
)


def _in_place_syscall(regs: memoryview) -> tuple[Callable[[], list[int]], Callable[[int], None]]:
    """read_syscall_args and set_eax over the register file in place: the
    arguments eax, edx, ecx, ebx, edi, esi and the result, with no Unicorn
    call (the upper halves of regs[] stay zero in 32-bit mode)."""
    raw = regs.cast("B")

    def read_syscall_args() -> list[int]:
        eax, ecx, edx, ebx, esi, edi = _SYSCALL_WORDS.unpack_from(raw)  # one call, not six
        return [eax, edx, ecx, ebx, edi, esi]

    def set_eax(value: int) -> None:
        regs[0] = value & 0xFFFFFFFF
    return read_syscall_args, set_eax


def foreign(state: list[int]) -> bool:
    """True if the CPU of a read_trap_state is not in plain ring 3 as an env
    may run: in virtual-8086 mode, or with a cs/ss other than the user
    selectors."""
    eflags, cs, ss = state[8], state[10], state[11]
    return bool(eflags & FL_VM) or (cs & 0xFFFF) != USER_CS or (ss & 0xFFFF) != USER_DS


class MachineError(Exception):
    """The emulated machine cannot be set up (bad Unicorn, failed calibration)."""


def _raw(name: str, *argtypes: type, release_gil: bool = False) -> ctypes._CFuncPtr:
    """A prototype for a libunicorn function taking plain integers.

    The binding's own prototypes convert every argument through ctypes
    classes; with integer handles and addresses a call costs 2-3x less,
    which matters on the trap path (see ARCHITECTURE.md).  The calls here
    keep the GIL (a PYFUNCTYPE prototype): they are short and never call
    back into Python, and releasing and retaking the GIL is a fifth of a
    call's cost on a quiet machine and most of it on a loaded one (measured
    with ``bench floor``: 6.4 us against 10 us per register read and write
    at load 9).  release_gil: a plain CFUNCTYPE prototype, as the floor uses.
    """
    address = ctypes.cast(getattr(uclib, name), ctypes.c_void_p).value
    kind = ctypes.CFUNCTYPE if release_gil else ctypes.PYFUNCTYPE
    return kind(ctypes.c_int, *argtypes)(address)


_VP, _INT = ctypes.c_void_p, ctypes.c_int
_uc_reg_read = _raw("uc_reg_read", _VP, _INT, _VP)
_uc_reg_write = _raw("uc_reg_write", _VP, _INT, _VP)
_uc_reg_read_batch = _raw("uc_reg_read_batch", _VP, _VP, _VP, _INT)
_uc_reg_write_batch = _raw("uc_reg_write_batch", _VP, _VP, _VP, _INT)
_uc_ctl = _raw("uc_ctl", _VP, _INT)  # variadic in C; the calls here pass no extra argument
_uc_context_save = _raw("uc_context_save", _VP, _VP)
_uc_context_restore = _raw("uc_context_restore", _VP, _VP)
# QEMU's tlb_flush_page(CPUState *, target_ulong), exported by libunicorn
# (its x86-64 target serves every x86 mode): what invlpg does, one page of
# every MMU mode and its jump-cache entries.  Unicorn's API has only the
# whole-TLB flush.  Used where find_env has checked the layout (cpu_state) and
# the build exports it (else None: whole-TLB flushes only).
_tlb_flush_page = ctypes.PYFUNCTYPE(None, _VP, ctypes.c_uint64)(
    ctypes.cast(uclib.tlb_flush_page_x86_64, ctypes.c_void_p).value) if hasattr(
        uclib, "tlb_flush_page_x86_64") else None
# QEMU's drop of the translated blocks of a physical range (exported by
# libunicorn; RAM is one block at physical 0, so its ram addresses are physical)
_tb_invalidate_phys_range = ctypes.PYFUNCTYPE(None, _VP, ctypes.c_uint64, ctypes.c_uint64)(
    ctypes.cast(uclib.tb_invalidate_phys_range_x86_64, ctypes.c_void_p).value) if hasattr(
        uclib, "tb_invalidate_phys_range_x86_64") else None


class _RegBatch:
    """Preallocated buffers for one raw ``uc_reg_{read,write}_batch`` call.

    Slots are 32 bits: only for registers Unicorn stores as 32 bits (a
    segment register fills only the low half of its slot).
    """

    def __init__(self, uch: int, regs: tuple[int, ...]) -> None:
        n = len(regs)
        self._uch = uch
        self._n = n
        self._ids = (ctypes.c_int * n)(*regs)
        self._vals = (ctypes.c_uint32 * n)()
        base = ctypes.addressof(self._vals)
        self._ptrs = (ctypes.c_void_p * n)(*(base + 4 * i for i in range(n)))
        self._ids_addr = ctypes.addressof(self._ids)
        self._ptrs_addr = ctypes.addressof(self._ptrs)

    def read(self) -> list[int]:
        """Read the registers, in the batch's order."""
        _uc_reg_read_batch(self._uch, self._ids_addr, self._ptrs_addr, self._n)
        return self._vals[:]

    def write(self, values: list[int] | tuple[int, ...]) -> None:
        """Write the registers from values, in the batch's order."""
        self._vals[:] = values
        _uc_reg_write_batch(self._uch, self._ids_addr, self._ptrs_addr, self._n)


# Register names a FrameSlots layout may use.
REGISTERS = {
    "edi": x86.UC_X86_REG_EDI, "esi": x86.UC_X86_REG_ESI, "ebp": x86.UC_X86_REG_EBP,
    "ebx": x86.UC_X86_REG_EBX, "edx": x86.UC_X86_REG_EDX, "ecx": x86.UC_X86_REG_ECX,
    "eax": x86.UC_X86_REG_EAX, "es": x86.UC_X86_REG_ES, "ds": x86.UC_X86_REG_DS,
    "eip": x86.UC_X86_REG_EIP, "eflags": x86.UC_X86_REG_EFLAGS, "esp": x86.UC_X86_REG_ESP,
}
_DATA_SEGMENTS = ("es", "ds")
_DATA_SEGMENT_REGS = (x86.UC_X86_REG_ES, x86.UC_X86_REG_DS, x86.UC_X86_REG_FS, x86.UC_X86_REG_GS)
# A frame layout: (register name, byte offset of its slot) pairs.
FrameLayout = tuple[tuple[str, int], ...]


def _user_selectors(segs: tuple[int, ...]) -> tuple[int, ...]:
    """Data selectors as ring 3 may hold them: the user data selector or null
    (all it can load); anything else becomes the user data selector."""
    return tuple(sel if sel in _USER_DATA_SELECTORS else USER_DS for sel in segs)


class FrameSlots:
    """Register batches that read and write one register frame in guest memory.

    Unicorn's batch calls take one destination pointer per register; here
    they point straight into the frame (by host address), so saving or
    loading a context is one call and no Python work.  The layout says where
    each register's slot is (the kernel derives it from its Trapframe); fs
    and gs, which the frame has no slot for, go to two 32-bit words at host
    address `fs_gs` (the kernel keeps them per env).  Segment registers are
    only read by the batch: a segment load is valid inside a trap hook only,
    so Machine.load_frame loads them itself.  (Loading by stores into the
    register file in place, eip and eflags included, measured no cheaper:
    113,984 host instructions a yield against the batch's 113,102.)
    """

    def __init__(self, uch: int, mem: PhysMem, pa: int, layout: FrameLayout,
                 fs_gs: int) -> None:
        self._uch = uch
        self._keep = []
        host = mem.address + pa
        self._save = self._arrays(layout, host, fs_gs)
        self._load = self._arrays(tuple(p for p in layout if p[0] not in _DATA_SEGMENTS), host)
        self._words = mem.words
        offsets = dict(layout)
        self._halves = mem.halves
        self._es, self._ds = (pa + offsets["es"]) >> 1, (pa + offsets["ds"]) >> 1  # in halves
        self._eflags_pa = pa + offsets["eflags"]
        self._fs_gs = memoryview((ctypes.c_uint32 * 2).from_address(fs_gs)).cast("B").cast("I")

    def _arrays(self, layout: FrameLayout, base: int,
                fs_gs: int | None = None) -> tuple[int, int, int]:
        regs = [REGISTERS[r] for r, _ in layout]
        addrs = [base + off for _, off in layout]
        if fs_gs is not None:
            regs += [x86.UC_X86_REG_FS, x86.UC_X86_REG_GS]
            addrs += [fs_gs, fs_gs + 4]
        ids = (ctypes.c_int * len(regs))(*regs)
        ptrs = (ctypes.c_void_p * len(regs))(*addrs)
        self._keep += [ids, ptrs]
        return ctypes.addressof(ids), ctypes.addressof(ptrs), len(regs)

    def save(self) -> None:
        """CPU registers -> the frame."""
        ids, ptrs, n = self._save
        if _uc_reg_read_batch(self._uch, ids, ptrs, n):
            raise MachineError("uc_reg_read_batch failed")

    def load(self) -> None:
        """The frame -> CPU registers (not segments), EFLAGS as ring 3 may
        have it: VM, IOPL, NT and RF cleared and IF set, in the frame too."""
        words, at = self._words, self._eflags_pa >> 2
        eflags = words[at]
        if eflags & (FL_USER_NEVER | FL_IF) != FL_IF:
            words[at] = (eflags & ~FL_USER_NEVER) | FL_IF
        ids, ptrs, n = self._load
        if _uc_reg_write_batch(self._uch, ids, ptrs, n):
            raise MachineError("uc_reg_write_batch failed")

    def eflags(self) -> int:
        """EFLAGS as the frame holds it."""
        return self._words[self._eflags_pa >> 2]

    def data_segments(self) -> tuple[int, int, int, int]:
        """es, ds, fs, gs as the frame holds them."""
        halves, (fs, gs) = self._halves, self._fs_gs
        return halves[self._es], halves[self._ds], fs & 0xFFFF, gs & 0xFFFF


class _Budget(ctypes.Structure):
    """struct pyjos_budget of host/preempt.c."""

    _fields_ = [("left", ctypes.c_int64), ("blocks", ctypes.c_int64),
                ("expired", ctypes.c_int64), ("stop", ctypes.c_void_p)]


class PhysMem:
    """Guest physical memory: one zero-filled host buffer.  With prefault, the
    host backs every page at once (MAP_POPULATE, about 0.25 ms per MiB here),
    so that no later guest access pays the host's first touch of a page (a
    host page fault and zeroing: measured, about 5 us of a 20-30 us user fault
    round trip on a fresh frame)."""

    def __init__(self, size: int, prefault: bool = False) -> None:
        if size % PGSIZE or size < 4 * 1024 * 1024:
            raise MachineError(f"memory size {size:#x} must be a page multiple of at least 4 MiB")
        self.size = size
        if prefault and hasattr(mmap, "MAP_POPULATE"):
            self.buf = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
                                 | mmap.MAP_POPULATE)
        else:
            self.buf = mmap.mmap(-1, size)
            if prefault:  # no MAP_POPULATE: write each page once
                memoryview(self.buf)[::PGSIZE] = bytes(size // PGSIZE)
        self.view = memoryview(self.buf)
        # The same bytes as 32-bit words (words[pa >> 2]): page-table entries and
        # env fields on the kernel's hot paths, a third of a struct unpack's cost.
        # (Native order: the host is little-endian, as the guest.)
        self.words = self.view.cast("I")
        self.halves = self.view.cast("H")  # and 16-bit ones (halves[pa >> 1])
        self.address = ctypes.addressof(ctypes.c_char.from_buffer(self.buf))

    def read32(self, pa: int) -> int:
        return struct.unpack_from("<I", self.buf, pa)[0]

    def write32(self, pa: int, value: int) -> None:
        struct.pack_into("<I", self.buf, pa, value & 0xFFFFFFFF)

    def read(self, pa: int, n: int) -> bytes:
        return self.buf[pa : pa + n]

    def write(self, pa: int, data: bytes) -> None:
        self.buf[pa : pa + len(data)] = data

    def zero_page(self, pa: int) -> None:
        self.view[pa : pa + PGSIZE] = bytes(PGSIZE)

    def copy_page(self, dst: int, src: int) -> None:
        self.view[dst : dst + PGSIZE] = self.view[src : src + PGSIZE]


# on_trap(trapno, error_code, raised_by_int_instruction)
TrapHook = Callable[[int, int, bool], None]
# uc_ctl code for "write TLB_FLUSH, no arguments" (uc_ctl_flush_tlb in unicorn.h)
_CTL_TLB_FLUSH = (ucc.UC_CTL_IO_WRITE << 30) | ucc.UC_CTL_TLB_FLUSH
_INTR_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_void_p)
_INVALID_CB = ctypes.CFUNCTYPE(ctypes.c_bool, ctypes.c_void_p, ctypes.c_void_p)
_CODE_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint64, ctypes.c_uint32, ctypes.c_void_p)
_IN_CB = ctypes.CFUNCTYPE(ctypes.c_uint32, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int,
                          ctypes.c_void_p)
_OUT_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint32,
                           ctypes.c_void_p)
_SYS_CB = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_T_GPFLT = 13
# Why a debug hook stopped the CPU (Machine.take_debug_stop).
DEBUG_BREAK = "break"  # before an instruction at a code breakpoint
DEBUG_STEP = "step"  # before the instruction after the single-stepped one
DEBUG_REQUEST = "request"  # request_stop() was called


# Registers a context switch must carry besides the trap frame: the x87/MMX
# control, status and tag words and stack, and SSE (issue 11 item 5).
EXTENDED_REGS = (
    x86.UC_X86_REG_FPCW, x86.UC_X86_REG_FPSW, x86.UC_X86_REG_FPTAG,
    *(getattr(x86, f"UC_X86_REG_ST{i}") for i in range(8)),
    *(getattr(x86, f"UC_X86_REG_XMM{i}") for i in range(8)),
    x86.UC_X86_REG_MXCSR,
)
# What `fninit` and reset leave: control word 0x37f, empty tag word, MXCSR 0x1f80.
INITIAL_EXTENDED = (0x37F, 0, 0xFFFF, *([0] * 16), 0x1F80)


class Machine:
    """One i386 CPU with paging over `mem`; every trap goes to ``on_trap``
    (``on_syscall`` for ``int $0x30``), inline in the CPU's hook."""

    def __init__(self, mem: PhysMem) -> None:
        if UNICORN_VERSION != PINNED_UNICORN:
            raise MachineError(
                f"pyjos needs unicorn=={PINNED_UNICORN} (found {UNICORN_VERSION}): "
                f"the kernel reads its saved-context layout; pip install unicorn=={PINNED_UNICORN}"
            )
        self.mem = mem
        self.uc = Uc(ucc.UC_ARCH_X86, ucc.UC_MODE_32)
        self.uc.mem_map_ptr(0, mem.size, ucc.UC_PROT_ALL, mem.address)
        self._handle = self.uc._uch  # for the binding's own prototypes
        uch = self._uch = ctypes.cast(self._handle, ctypes.c_void_p).value
        self._frame = _RegBatch(uch, FRAME_REGS)
        self._sysargs = _RegBatch(uch, SYSCALL_REGS)
        self.read_syscall_args = self._sysargs.read
        # The CPU state in place (regfile.py), where the layout checks out.
        env = regfile.find_env(uch, _uc_reg_read, _uc_reg_write)
        self.regs = regfile.general_registers(env) if env is not None else None
        if self.regs is not None:
            self.read_syscall_args, self.set_eax = _in_place_syscall(self.regs)
        # and eip, where it checks out (resume_at)
        self._cpu_words = regfile.cpu_words(env) if env is not None and regfile.eip_agrees(
            uch, env, _uc_reg_read, _uc_reg_write) else None
        # QEMU's CPUState, for one-page TLB flushes (None: whole-TLB flushes only)
        self._cpu_state = regfile.cpu_state(uch) if env is not None and _tlb_flush_page else None
        self.can_flush_page = self._cpu_state is not None
        self._trap_state = _RegBatch(uch, TRAP_STATE_REGS)
        self._eip_esp = _RegBatch(uch, (x86.UC_X86_REG_EIP, x86.UC_X86_REG_ESP))
        self._one = ctypes.c_uint64()
        self._one_addr = ctypes.addressof(self._one)
        self._wide = ctypes.create_string_buffer(16)  # ST (80-bit) and XMM (128-bit) registers
        self._ctx = self.uc.context_save()
        self._ctx_ptr = ctypes.cast(self._ctx.context, ctypes.c_void_p).value
        self._ctx_size = self._ctx.size
        # error code, exception_is_int, old_exception: in place, or None
        self._fault_fields = self._in_place_fault_fields(env)
        self.on_trap: TrapHook = self._unexpected_trap
        self.timer_unit = "instructions"
        self._quantum = 0  # the last slice length run_slice was given
        self.stopped = False
        self.restarts = 0  # silent triple-fault stops resumed by run_slice
        self.on_syscall: Callable[[], None] = self._unexpected_syscall
        # es, ds, fs, gs as last loaded into or saved from the CPU (see load_frame)
        self.data_segs: tuple[int, ...] | None = (GD_UD | 3,) * 4
        self._trampoline: int | None = None  # user va of TRAMPOLINE_CODE
        # What waits for the trampoline's trap: a frame whose segments must be
        # loaded (load_frame), or the registers of an instruction whose fault
        # is due (_keep_fault: an in/out's #GP, a bad lock's #UD).  One
        # attribute, so a system call checks one thing.
        self._deferred: FrameSlots | list[int] | None = None
        self._deferred_trap = _T_GPFLT  # the kept fault's trap number
        self._lock: LockCheck | None = None  # install_lock_check
        self._watch: CodeWatch | None = None  # watch_code
        self._reset_pending = False  # reset_user_mode waits for the trampoline too
        self._fpu_trap = False  # CR0.TS as last written
        # Debugging: hooks exist only while a debugger asks for them.
        self.stop_requested = False  # request_stop() was called (from any thread)
        self.debug_hit: tuple[str, int] | None = None  # (DEBUG_BREAK/STEP, eip) of a hook stop
        self._breakpoints: dict[int, int] = {}  # va -> hook handle
        self._step_hook: int | None = None
        self._stepped = False  # the single-stepped instruction has started
        self._break_cb, self._step_cb = _CODE_CB(self._hook_break), _CODE_CB(self._hook_step)
        self._hooks = [self._raw_hook(ucc.UC_HOOK_INTR, _INTR_CB(self._hook_intr)),
                       self._raw_hook(ucc.UC_HOOK_INSN_INVALID, _INVALID_CB(self._hook_invalid)),
                       *self._privileged_insn_hooks()]
        self._write_boot_page()

    # --- boot -----------------------------------------------------------------
    def _write_boot_page(self) -> None:
        gdt = b"".join(struct.pack("<Q", d) for d in GDT)
        self.mem.write(BOOT_PAGE + GDT_OFF, gdt)
        self.mem.write(BOOT_PAGE + STUB_OFF, STUB_CODE)

    def enable_paging(self, cr3: int) -> None:
        """Load the GDT and ring-0 segments, set CR3, turn on paging with WP."""
        uc = self.uc
        uc.reg_write(x86.UC_X86_REG_GDTR, (0, KERNBASE + BOOT_PAGE + GDT_OFF, GDT_LIMIT, 0))
        self.set_cr3(cr3)
        uc.reg_write(x86.UC_X86_REG_CR0, CR0_PE | CR0_PG | CR0_WP)
        for reg, sel in ((x86.UC_X86_REG_CS, GD_KT), (x86.UC_X86_REG_SS, GD_KD),
                         (x86.UC_X86_REG_DS, GD_KD), (x86.UC_X86_REG_ES, GD_KD)):
            uc.reg_write(reg, sel)
        # Stop only where the kernel says so: no probing of emu_start's `until`
        # (it would raise a hidden #PF, see ARCHITECTURE.md).
        uc.ctl_exits_enabled(True)
        uc.ctl_set_exits([])

    def enter_user(self, eip: int, esp: int, eflags: int, on_trap: TrapHook, count: int = 0) -> None:
        """Drop to ring 3 at eip/esp through the iret stub and run until stopped.

        System calls go to on_trap too, until the kernel sets on_syscall.
        """
        self.on_syscall = lambda: on_trap(_T_SYSCALL, 0, True)
        frame_pa = BOOT_PAGE + PGSIZE - 20
        self.mem.write(frame_pa, struct.pack("<5I", eip, GD_UT | 3, eflags, esp, GD_UD | 3))
        self.uc.reg_write(x86.UC_X86_REG_ESP, KERNBASE + frame_pa)
        self.on_trap = on_trap
        self.run(KERNBASE + BOOT_PAGE + STUB_OFF, count)

    # --- running --------------------------------------------------------------
    def install_timer(self, helper: str | None) -> None:
        """Preempt by basic blocks with the native hook in `helper` (a shared
        object built from host/preempt.c); with None, fall back to Unicorn's
        instruction count (deterministic too, but 17-21x slower on loops)."""
        if helper is None:
            self.timer_unit = "instructions"
            return
        lib = ctypes.CDLL(helper)
        self._timer_lib = lib
        self._budget = _Budget()
        self._budget.stop = ctypes.cast(uclib.uc_emu_stop, ctypes.c_void_p).value
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(self._handle, ctypes.byref(handle), ucc.UC_HOOK_BLOCK,
                                   ctypes.cast(lib.pyjos_block_hook, ctypes.c_void_p),
                                   ctypes.c_void_p(ctypes.addressof(self._budget)),
                                   ctypes.c_uint64(1), ctypes.c_uint64(0))
        if status:
            raise MachineError(f"cannot install the block timer: {UcError(status)}")
        self.timer_unit = "blocks"

    # The lock check (lockcheck.py): Unicorn 2.1.4 runs most locked instructions
    # an i386 refuses as if unprefixed (measured: 13 of the 22 forms of
    # tests/test_lockcheck.py, `lock mov %eax,%eax` among them).  Its native
    # hook runs once per new translation, before the block first runs
    # (callgrind: ~640 host instructions per block, ~1% of translating it),
    # and costs nothing per block executed.
    def install_lock_check(self, helper: str | None) -> None:
        """#UD for a `lock` an i386 refuses, with the native hooks in `helper`
        (a shared object built from host/lockcheck.c; see lockcheck.py); with
        None, such a `lock` runs as Unicorn runs it."""
        if helper is not None:
            try:
                self._lock = LockCheck(self._handle, helper)
            except UcError as e:
                raise MachineError(f"cannot install the lock check: {e}") from None

    # Code coherence between CPUs (codewatch.py): with several CPUs, each
    # Unicorn drops the blocks that its own stores change, and before it runs
    # again those of the frames whose bytes changed since it translated them
    # (sync_code): another CPU stored to them.
    def watch_code(self, helper: str) -> None:
        """Watch the frames this CPU translates code from, with the hook in
        `helper` (a shared object built from host/codewatch.c)."""
        try:
            self._watch = CodeWatch(helper, self._uch, self.mem.address, self.mem.size,
                                    self.reg_read(x86.UC_X86_REG_CR3))
        except UcError as e:
            raise MachineError(f"cannot install the code watch: {e}") from None

    def sync_code(self) -> None:
        """Before this CPU runs: drop its blocks of the frames that changed
        since it translated them (all its blocks if they were too many, or if
        this libunicorn does not export the range drop)."""
        if self._watch is None:
            return
        frames = self._watch.take()
        if frames is None or (frames and _tb_invalidate_phys_range is None):
            self.tb_flush()
            return
        for ppn in frames:
            _tb_invalidate_phys_range(self._uch, ppn * PGSIZE, (ppn + 1) * PGSIZE)

    @property
    def watches_code(self) -> bool:
        """Whether this CPU has a code watch (watch_code)."""
        return self._watch is not None

    def watched_code(self) -> tuple[list[int], dict[str, int]] | None:
        """The code watch's frames and counts (CodeWatch.frames, .counts), or
        None without it."""
        return None if self._watch is None else (self._watch.frames(), self._watch.counts())

    def lock_check_stats(self) -> dict[str, int] | None:
        """The lock check's counters (blocks and instructions decoded, blocks
        whose decoded instruction count is not Unicorn's, blocks it could not
        read), or None without it."""
        if self._lock is None:
            return None
        state = self._lock.state
        return {name: getattr(state, name) for name in ("blocks", "insns", "mismatches", "unreadable")}

    def slice_left(self) -> int:
        """Timer units the current slice had left when the CPU stopped before
        its end (0 without the native timer, which cannot tell)."""
        return self._budget.left if self.timer_unit == "blocks" else 0

    def blocks_executed(self) -> int | None:
        """Guest basic blocks run so far (None without the native timer)."""
        return self._budget.blocks if self.timer_unit == "blocks" else None

    def run(self, eip: int, count: int = 0) -> None:
        """Run from eip until the kernel stops the CPU or `count` insns ran."""
        self.uc.emu_start(eip, 0, 0, count)

    def run_slice(self, eip: int, quantum: int | None) -> bool:
        """Run one time slice of `quantum` timer units from eip (None: what is
        left of the current slice, after a debug stop; a full slice again
        without the native timer).

        Returns True if the slice ran out (a timer interrupt), False if the
        kernel stopped the CPU.  With the block hook installed, Unicorn leaves
        QEMU's old_exception at 8 (double fault) after an ``int $0x30``
        (measured on 2.1.4; not with count=), so the next page fault becomes a
        triple fault that silently ends emu_start with EIP still at the
        faulting instruction.  That stop is neither ours nor the timer's:
        clear old_exception and resume at the same instruction with the rest
        of the budget (``restarts`` counts them; about 3 us each).
        """
        self.stopped = False
        if quantum is not None:
            self._quantum = quantum
        if self.timer_unit == "instructions":
            self.uc.emu_start(eip, 0, 0, self._quantum)
            while (self._lock_stopped() or self._fault_kept()) and not self.stopped:
                eip = self._trampoline if self._fault_kept() else self.eip()
                self.uc.emu_start(eip, 0, 0, self._quantum)  # see _keep_fault
            return not (self.stopped or self.stop_requested)
        budget = self._budget
        if quantum is not None:
            budget.left = quantum
        budget.expired = 0
        stuck = 0
        while True:
            self.uc.emu_start(eip, 0, 0, 0)
            locked = self._lock_stopped()
            if self._fault_kept() and not self.stopped:
                eip = self._trampoline  # deliver a kept fault (_keep_fault)
                if budget.expired:  # the timer fires right after it
                    budget.expired, budget.left = 0, 1
                continue
            if budget.expired or self.stopped or self.stop_requested:
                return bool(budget.expired)
            if locked:  # the block, not run, is translated again with its hook
                eip = self.eip()
                continue
            resume = self.eip()
            stuck = stuck + 1 if resume == eip else 0
            if stuck > _MAX_RESTARTS:
                raise MachineError(f"the CPU keeps stopping at {resume:#010x} for no reason")
            self.restarts += 1
            self._clear_old_exception()
            eip = resume

    def _clear_old_exception(self) -> None:
        """Forget a pending fault (outside emulation or inside a hook)."""
        _uc_context_save(self._uch, self._ctx_ptr)
        self._ctx_field(CTX_OLD_EXCEPTION_FROM_END).value = -1
        _uc_context_restore(self._uch, self._ctx_ptr)

    def stop(self) -> None:
        """Ask the CPU to stop after the current hook returns."""
        self.stopped = True
        self.uc.emu_stop()

    def _raw_hook(self, kind: int, callback: ctypes._CFuncPtr, begin: int = 1,
                  end: int = 0) -> tuple[int, object]:
        """Register a ctypes callback directly (the binding's wrapper costs ~0.5 us)
        for addresses [begin, end] (begin > end: all)."""
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(self._handle, ctypes.byref(handle), kind,
                                   ctypes.cast(callback, ctypes.c_void_p), None,
                                   ctypes.c_uint64(begin), ctypes.c_uint64(end))
        if status:
            raise MachineError(f"uc_hook_add({kind}) failed: {UcError(status)}")
        return handle.value, callback  # keep the callback alive

    def _unexpected_syscall(self) -> None:
        raise MachineError("system call with no kernel attached")

    def _unexpected_trap(self, trapno: int, err: int, is_int: bool) -> None:
        raise MachineError(f"trap {trapno} with no kernel attached")

    def _hook_intr(self, _uc: int, intno: int, _user: int) -> None:
        if intno == _T_SYSCALL:  # only `int $0x30` raises 48: nothing to fetch
            if self._deferred is None or not self._finish_deferred_load():
                self.on_syscall()
            return
        fields = self._fault_fields
        if fields is None:  # through a saved copy of the context
            _uc_context_save(self._uch, self._ctx_ptr)
            fields = [self._ctx_field(off) for off in _FAULT_FIELDS_FROM_END]
        err = fields[0].value & 0xFFFFFFFF
        is_int = fields[1].value != 0
        if intno in _SETS_OLD_EXCEPTION:
            # unicorn#1883: forget this fault, or the next one is a double fault.
            fields[2].value = -1
            if fields is not self._fault_fields:
                _uc_context_restore(self._uch, self._ctx_ptr)
        if self._fault_kept():  # an in/out before this fault faulted first
            self._deliver_kept_fault()
            return
        self.on_trap(intno, err, is_int)

    # --- instructions Unicorn runs where an i386 at CPL 3, IOPL 0 faults --------
    # in/out and ins/outs (#GP: IOPL 0 and no I/O bitmap), sysenter (#GP:
    # SYSENTER_CS_MSR is 0), syscall (#UD: no such instruction on an i386).
    # Unicorn calls these hooks only for those instructions (they are helper
    # calls in its translation anyway), so nothing else costs more.  Each
    # hook raises the fault through on_trap with EIP at the instruction.
    def _privileged_insn_hooks(self) -> list[tuple[int, object]]:
        fault_in = _IN_CB(lambda _uc, _port, _size, _user: self._io_fault() or 0)
        fault_out = _OUT_CB(lambda _uc, _port, _size, _value, _user: self._io_fault())
        fault_sysenter = _SYS_CB(lambda _uc, _user: self._insn_fault(_T_GPFLT, 2))
        fault_syscall = _SYS_CB(lambda _uc, _user: self._insn_fault(_T_ILLOP, 2))
        return [self._raw_insn_hook(x86.UC_X86_INS_IN, fault_in),
                self._raw_insn_hook(x86.UC_X86_INS_OUT, fault_out),
                self._raw_insn_hook(x86.UC_X86_INS_SYSENTER, fault_sysenter),
                self._raw_insn_hook(x86.UC_X86_INS_SYSCALL, fault_syscall)]

    def _raw_insn_hook(self, insn: int, callback: ctypes._CFuncPtr) -> tuple[int, object]:
        handle = ctypes.c_size_t()
        status = uclib.uc_hook_add(self._handle, ctypes.byref(handle), ucc.UC_HOOK_INSN,
                                   ctypes.cast(callback, ctypes.c_void_p), None,
                                   ctypes.c_uint64(1), ctypes.c_uint64(0), ctypes.c_int(insn))
        if status:
            raise MachineError(f"uc_hook_add(UC_HOOK_INSN {insn}) failed: {UcError(status)}")
        return handle.value, callback

    def _io_fault(self) -> None:
        """in/out: Unicorn goes on with the rest of the translated block after
        this hook whatever the kernel does to the registers, so the #GP waits:
        the registers are kept as at the instruction, the CPU stops at the end
        of the block (where the env only runs its own code on its own
        registers) and run_slice resumes it at the trampoline, whose trap
        delivers the fault with the kept registers (_deliver_kept_fault)."""
        if self._deferred is None:  # (none is pending while user code runs)
            self._keep_fault(_T_GPFLT)
            uclib.uc_emu_stop(self._handle)

    def _keep_fault(self, trapno: int) -> None:
        """Keep the registers as they are (EIP at the faulting instruction) for
        the trampoline's trap to deliver trapno with them."""
        self._deferred = self._frame.read()
        self._deferred_trap = trapno

    def _fault_kept(self) -> bool:
        """True if a kept fault waits for the trampoline (_keep_fault)."""
        return isinstance(self._deferred, list)

    def _deliver_kept_fault(self) -> None:
        frame, self._deferred = self._deferred, None
        self._frame.write(frame)
        self.on_trap(self._deferred_trap, 0, False)

    def _lock_stopped(self) -> bool:
        """After emu_start: True if the lock check stopped the CPU.  Either a
        new block holds a bad `lock` (the block has not run: the instruction
        gets its code hook, every block is dropped, and the CPU resumes at the
        same EIP), or that hook met the instruction (it has not run: its #UD
        is kept for the trampoline, as an in/out's #GP)."""
        lock = self._lock
        if lock is None:
            return False
        if lock.take_found():
            self.tb_flush()
            return True
        if lock.take_fault():
            if self._deferred is None:  # else an in/out before it faults first
                self._keep_fault(_T_ILLOP)
            return True
        return False

    def _insn_fault(self, trapno: int, skipped: int) -> None:
        """The instruction at EIP faults: trapno to the kernel, error code 0.
        `skipped`: the bytes Unicorn adds to EIP after this hook returns
        (sysenter and syscall), taken back from whatever EIP the kernel left."""
        self.on_trap(trapno, 0, False)
        if skipped:
            self.set_eip(self.eip() - skipped)

    def _hook_invalid(self, _uc: int, _user: int) -> bool:
        self.on_trap(_T_ILLOP, 0, False)
        return True


    # --- debugging ---------------------------------------------------------------
    # Code hooks are added only while a debugger asks for them, so without one
    # the CPU runs exactly as before.  A hook stops the CPU *before* the
    # instruction at its address (measured: uc_emu_stop in a UC_HOOK_CODE
    # callback leaves EIP there); hooks apply to code translated after they
    # were added, so adding or removing one drops every translated block.
    def add_code_breakpoint(self, va: int) -> None:
        """Stop before any instruction at virtual address va (in every address space)."""
        if va not in self._breakpoints:
            self._breakpoints[va] = self._raw_hook(ucc.UC_HOOK_CODE, self._break_cb, va, va)[0]
            self.tb_flush()

    def remove_code_breakpoint(self, va: int) -> None:
        """Undo add_code_breakpoint (nothing if va has none)."""
        handle = self._breakpoints.pop(va, None)
        if handle is not None:
            self._del_hook(handle)

    def code_breakpoints(self) -> tuple[int, ...]:
        """The addresses of the code breakpoints now installed."""
        return tuple(self._breakpoints)

    @property
    def single_stepping(self) -> bool:
        """True while set_single_step(True) is in force."""
        return self._step_hook is not None

    def set_single_step(self, on: bool) -> None:
        """With on, the CPU executes one instruction (a trap it raises is handled
        inside it, so an ``int $0x30`` completes) and stops before the next one,
        whichever env that belongs to.  The trampoline's own trap is not counted."""
        if on and self._step_hook is None:
            self._stepped = False
            self._step_hook = self._raw_hook(ucc.UC_HOOK_CODE, self._step_cb)[0]
            self.tb_flush()
        elif not on and self._step_hook is not None:
            handle, self._step_hook = self._step_hook, None
            self._del_hook(handle)

    def request_stop(self) -> None:
        """Stop the CPU soon (gdb's Ctrl-C); callable from any thread.  If it is
        not inside emu_start now, run_slice returns at the end of the next slice."""
        self.stop_requested = True
        uclib.uc_emu_stop(self._handle)

    def take_debug_stop(self) -> tuple[str, int] | None:
        """(why, eip) of the last debug stop, forgotten as it is returned; a hook
        stop wins over a stop request.  None if there was none."""
        hit, self.debug_hit = self.debug_hit, None
        requested, self.stop_requested = self.stop_requested, False
        if hit is None and requested:
            hit = (DEBUG_REQUEST, self.eip())
        return hit

    def _hook_break(self, _uc: int, address: int, _size: int, _user: int) -> None:
        if self._step_hook is None:  # a step decides for itself
            self.debug_hit = (DEBUG_BREAK, address)
            self.stop()

    def _hook_step(self, _uc: int, address: int, _size: int, _user: int) -> None:
        if address == self._trampoline:
            return
        if not self._stepped:
            self._stepped = True
            return
        self.debug_hit = (DEBUG_STEP, address)
        self.stop()

    def _del_hook(self, handle: int) -> None:
        uclib.uc_hook_del(self._handle, ctypes.c_size_t(handle))
        self.tb_flush()

    # --- calibration ------------------------------------------------------------
    def calibrate(self) -> None:
        """Enter ring 3 and check the saved-context offsets with probe faults.

        Uses physical pages 1-5 as a throw-away address space, then zeroes them
        and drops every cached translation and translated block.  Raises
        MachineError when the fault details do not come out as x86 defines
        them (an unexpected Unicorn build): the kernel refuses to start then.
        """
        pd, pt_user, pt_kern, code, ro = (p * PGSIZE for p in range(1, 6))
        mem = self.mem
        mem.write32(pd + (0x00800000 >> 22) * 4, pt_user | 0x7)
        mem.write32(pd + (KERNBASE >> 22) * 4, pt_kern | 0x3)
        mem.write32(pt_kern, BOOT_PAGE | 0x3)  # KERNBASE -> page 0, supervisor
        mem.write32(pt_user + 0 * 4, code | 0x5)  # 0x800000 code, user read-only
        mem.write32(pt_user + 1 * 4, ro | 0x5)  # 0x801000 data, user read-only
        mem.write(code, _PROBE_CODE)
        self.enable_paging(pd)
        seen: list[tuple[int, int, bool, int]] = []

        def probe(trapno: int, err: int, is_int: bool) -> None:
            if trapno == _T_SYSCALL:
                self.stop()
                return
            seen.append((trapno, err, is_int, self.cr2()))
            if not is_int:
                self.set_eip(self.eip() + 5)  # every probe load/store is 5 bytes
            if len(seen) > len(_PROBE_EXPECT):
                self.stop()

        self.enter_user(0x00800000, 0x00802000, 0x2, probe, count=10_000)
        for pa in (pd, pt_user, pt_kern, code, ro):
            mem.zero_page(pa)
        self.tlb_flush()
        self.tb_flush()
        if seen != _PROBE_EXPECT:
            raise MachineError(
                "CPU calibration failed: probe faults gave "
                f"{[(t, hex(e), i, hex(a)) for t, e, i, a in seen]}, expected "
                f"{[(t, hex(e), i, hex(a)) for t, e, i, a in _PROBE_EXPECT]}; "
                f"pyjos needs unicorn=={PINNED_UNICORN} exactly"
            )

    # --- registers -----------------------------------------------------------
    def frame_slots(self, pa: int, layout: FrameLayout, fs_gs: int) -> FrameSlots:
        """Register batches bound to the frame at physical address pa, fs and gs
        at host address fs_gs (two 32-bit words)."""
        return FrameSlots(self._uch, self.mem, pa, layout, fs_gs)

    # --- contexts: a frame in memory <-> the CPU ------------------------------
    def set_trampoline(self, va: int) -> None:
        """Where TRAMPOLINE_CODE is mapped, user-executable, in every address space."""
        self._trampoline = va

    def save_frame(self, slots: FrameSlots) -> None:
        """The CPU's registers -> the frame; remember its data selectors.

        A frame loaded from outside a hook whose segment load is still
        deferred never ran: the frame is already right, nothing is saved.
        """
        if self._deferred is not None:
            self._deferred = None
            return
        slots.save()
        self.data_segs = slots.data_segments()

    def load_frame(self, slots: FrameSlots, in_hook: bool) -> None:
        """The frame -> the CPU's registers, es, ds, fs and gs included.

        Segment registers can be written only inside a trap hook (outside,
        Unicorn crashes).  From outside a hook, when a data selector must change, the
        CPU is pointed at the trampoline: its `int $0x30` traps into this
        machine, which loads the segments and the frame there and resumes
        the frame without the kernel seeing that trap.
        """
        slots.load()
        segs = slots.data_segments()
        if segs == self.data_segs:
            return
        if in_hook:
            segs = _user_selectors(segs)
            self.set_data_segments(segs)
            return
        if self._trampoline is None:
            raise MachineError("a segment load outside a hook needs set_trampoline()")
        self._deferred = slots
        self.set_eip(self._trampoline)

    def _finish_deferred_load(self) -> bool:
        """In the trampoline's trap: load the deferred frame (or deliver an
        in/out's #GP).  False if this `int $0x30` is not the trampoline's
        (then it is a system call)."""
        if self.eip() != self._trampoline + len(TRAMPOLINE_CODE):
            return False
        if self._fault_kept():
            self._deliver_kept_fault()
            return True
        slots, self._deferred = self._deferred, None
        if self._reset_pending:
            self.reset_user_mode(True)
        self.set_data_segments(_user_selectors(slots.data_segments()))
        slots.load()
        return True

    def context_lost(self) -> None:
        """The running context is gone unsaved (its env died): take its data selectors as
        the CPU now has them, since that env may have changed them."""
        self._deferred = None
        self.data_segs = tuple(self.reg_read(reg) & 0xFFFF for reg in _DATA_SEGMENT_REGS)

    def read_frame(self) -> list[int]:
        """edi esi ebp ebx edx ecx eax eip eflags esp."""
        return self._frame.read()

    def resume_at(self, eip: int, esp: int) -> None:
        """The CPU goes on at eip with stack pointer esp, its other registers
        as they are (an upcall's entry)."""
        cpu = self._cpu_words
        if cpu is None:
            self._eip_esp.write((eip, esp))
            return
        cpu[regfile.ESP], cpu[regfile.EIP] = esp, eip

    def read_syscall_args(self) -> list[int]:
        """eax edx ecx ebx edi esi.  (__init__ binds a faster reader over this
        method: the register file in place, or else the batch's own read.)"""
        return self._sysargs.read()

    def reg_read(self, reg: int) -> int:
        one = self._one
        one.value = 0  # segment registers fill only 16 bits
        _uc_reg_read(self._uch, reg, self._one_addr)
        return one.value & 0xFFFFFFFF

    def reg_write(self, reg: int, value: int) -> None:
        self._one.value = value & 0xFFFFFFFF
        _uc_reg_write(self._uch, reg, self._one_addr)

    def set_eax(self, value: int) -> None:
        """reg_write of eax, written out: it ends every system call.  (__init__
        binds the in-place write over this method where the register file is
        reachable.)"""
        self._one.value = value & 0xFFFFFFFF
        _uc_reg_write(self._uch, x86.UC_X86_REG_EAX, self._one_addr)

    def eip(self) -> int:
        return self.reg_read(x86.UC_X86_REG_EIP)

    def set_eip(self, value: int) -> None:
        self.reg_write(x86.UC_X86_REG_EIP, value)

    def cr2(self) -> int:
        return self.reg_read(x86.UC_X86_REG_CR2)

    def set_cr3(self, pa: int) -> None:
        """Switch address space (flushes the TLB)."""
        self.reg_write(x86.UC_X86_REG_CR3, pa)
        if self._watch is not None:
            self._watch.loaded(pa)

    def segments(self) -> tuple[int, int, int, int]:
        """es, ds, cs, ss selectors."""
        return tuple(self.reg_read(r) & 0xFFFF for r in (
            x86.UC_X86_REG_ES, x86.UC_X86_REG_DS, x86.UC_X86_REG_CS, x86.UC_X86_REG_SS))

    def read_trap_state(self) -> list[int]:
        """edi esi ebp ebx edx ecx eax eip eflags esp (read_frame's order),
        cs, ss, cr2: what a fault needs, in one register batch (a fault
        reads it once)."""
        return self._trap_state.read()

    def foreign_mode(self) -> bool:
        """True if the CPU is not in plain ring 3 as an env may run (foreign)."""
        return foreign(self.read_trap_state())

    def reset_user_mode(self, in_hook: bool) -> None:
        """Leave whatever mode the CPU is in for plain ring 3: EFLAGS without
        VM/IOPL/NT/RF, cs, ss, ds, es, fs, gs the user selectors.  Segment
        loads need a trap hook: from outside one, the next load_frame goes
        through the trampoline, whose trap does it (then the frame)."""
        if not in_hook:
            self._reset_pending = True
            self.data_segs = None  # forces the deferred load
            return
        self._reset_pending = False
        flags = self.reg_read(x86.UC_X86_REG_EFLAGS)
        self.reg_write(x86.UC_X86_REG_EFLAGS, (flags & ~FL_USER_NEVER) | FL_IF)
        self.reg_write(x86.UC_X86_REG_CS, USER_CS)
        self.reg_write(x86.UC_X86_REG_SS, USER_DS)
        self.data_segs = None  # whatever the CPU holds: load all four
        self.set_data_segments((USER_DS,) * 4)

    def set_data_segments(self, segs: tuple[int, ...]) -> None:
        """Load es, ds, fs, gs (those that differ from data_segs).  Only valid
        inside a trap hook (else Unicorn crashes)."""
        now = self.data_segs or (None,) * 4
        for reg, sel, was in zip(_DATA_SEGMENT_REGS, segs, now):
            if sel != was:
                self.reg_write(reg, sel)
        self.data_segs = segs

    # --- state outside the trap frame (x87/MMX, SSE, fs/gs) --------------------
    def save_extended(self) -> tuple[int, ...]:
        """The x87/MMX and SSE registers (EXTENDED_REGS order), to keep per env;
        each as an int of up to 128 bits (an ST register's 80 bits whole)."""
        buf = self._wide
        out = []
        for reg in EXTENDED_REGS:
            ctypes.memset(buf, 0, 16)
            _uc_reg_read(self._uch, reg, ctypes.addressof(buf))
            out.append(int.from_bytes(buf.raw, "little"))
        return tuple(out)

    def load_extended(self, state: tuple[int, ...]) -> None:
        """Load a state returned by save_extended (or INITIAL_EXTENDED)."""
        buf = self._wide
        for reg, value in zip(EXTENDED_REGS, state):
            buf.raw = value.to_bytes(16, "little")
            _uc_reg_write(self._uch, reg, ctypes.addressof(buf))

    def set_fpu_trap(self, on: bool) -> None:
        """CR0.TS: with on, the next x87, MMX or SSE instruction raises #NM (7).
        Writes CR0 only when the bit changes."""
        if on != self._fpu_trap:
            cr0 = self.reg_read(x86.UC_X86_REG_CR0)
            self.reg_write(x86.UC_X86_REG_CR0, cr0 | CR0_TS if on else cr0 & ~CR0_TS)
            self._fpu_trap = on

    def fs_gs(self) -> tuple[int, int]:
        """fs and gs selectors (no Trapframe holds them)."""
        return self.reg_read(x86.UC_X86_REG_FS) & 0xFFFF, self.reg_read(x86.UC_X86_REG_GS) & 0xFFFF

    def set_fs_gs(self, fs: int, gs: int) -> None:
        """Load fs and gs.  Only valid inside a trap hook, as set_data_segments."""
        self.reg_write(x86.UC_X86_REG_FS, fs)
        self.reg_write(x86.UC_X86_REG_GS, gs)

    # --- the saved-context workarounds ----------------------------------------
    def _ctx_field(self, from_end: int) -> ctypes.c_int32:
        return ctypes.c_int32.from_address(self._ctx_ptr + self._ctx_size - from_end)

    def _in_place_fault_fields(self, env: int | None) -> tuple[ctypes.c_int32, ...] | None:
        """The saved-context fields of _FAULT_FIELDS_FROM_END in the live CPU
        state at env, if a context just saved is a copy of it (regfile.py)."""
        if env is None:
            return None
        size = ctypes.c_size_t.from_address(self._ctx_ptr).value  # uc_context.context_size
        _uc_context_save(self._uch, self._ctx_ptr)
        if not 0 < size < self._ctx_size or not regfile.context_is_env(
                env, self._ctx_ptr + self._ctx_size - size, size):
            return None
        return tuple(ctypes.c_int32.from_address(env + size - off) for off in _FAULT_FIELDS_FROM_END)

    # --- caches ---------------------------------------------------------------
    def tlb_flush(self) -> None:
        """Drop every cached translation."""
        if _uc_ctl(self._uch, _CTL_TLB_FLUSH):
            raise MachineError("uc_ctl(TLB_FLUSH) failed")

    def tlb_flush_page(self, va: int) -> None:
        """Drop the cached translations of the page at va, as invlpg does (only
        where can_flush_page; the kernel flushes the whole TLB otherwise).
        Unicorn's whole-TLB flush also clears its 32 KiB jump cache, and the
        guest then refills every page it touches: a cow fork at N=1024 runs
        163.6M host instructions a cycle with whole flushes, 119.2M with
        one-page ones (callgrind)."""
        _tlb_flush_page(self._cpu_state, va)

    def invalidate_code(self, va: int, size: int) -> None:
        """Drop translated blocks of [va, va+size), a USER mapping in the current
        address space.  (Unicorn translates the range at the CPU's current
        privilege: given a supervisor-only alias it silently invalidates
        nothing and leaves a hidden page fault in old_exception; measured.)"""
        self.uc.ctl_remove_cache(va, va + size)

    def tb_flush(self) -> None:
        """Drop every translated block (after reusing a frame for new code)."""
        self.uc.ctl_flush_tb()
        if self._watch is not None:
            self._watch.forget()


__all__ = ["DEBUG_BREAK", "DEBUG_REQUEST", "DEBUG_STEP", "Machine", "MachineError", "PhysMem",
           "UcError", "FRAME_REGS", "FrameSlots", "FrameLayout", "REGISTERS", "TRAMPOLINE_CODE",
           "EXTENDED_REGS", "INITIAL_EXTENDED"]
