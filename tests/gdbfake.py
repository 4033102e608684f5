"""A fake in-memory `Target` for the gdb server tests.

Each thread (an "env") has its own registers and its own sparse memory of
4 KiB pages.  `resume` interprets three i386 instructions in that memory --
nop (90), jmp rel8 (eb XX) and hlt (f4, which ends the thread) -- running the
threads round robin one instruction at a time, so gdb's disassembly and the
fake's execution agree.
"""

from __future__ import annotations

import threading
import time

from pyjos.tools.gdb.target import (EFAULT, EIP, HW_BREAK, REGISTERS, SIGINT,
                                    SIGTRAP, STEP, STOP_BREAKPOINT, STOP_EXITED,
                                    STOP_HW_BREAKPOINT, STOP_INTERRUPT, STOP_STEP,
                                    StopEvent, Target, TargetError)

PAGE = 4096
CODE = 0x00800020
DATA = 0x00802000
STACK = 0xEEBFD000
NOP, JMP, HLT = 0x90, 0xEB, 0xF4
SPIN = bytes([NOP] * 4 + [JMP, 0xFA])  # 4 nops, jmp back to CODE
EXITS = bytes([NOP, NOP, HLT])


class FakeThread:
    def __init__(self, tid: int, name: str, code: bytes, data: bytes):
        self.tid, self.name = tid, name
        self.regs = [0] * len(REGISTERS)
        self.regs[REGISTERS.index("esp")] = STACK + PAGE - 16
        self.regs[REGISTERS.index("ebp")] = 0
        self.regs[EIP] = CODE
        self.regs[REGISTERS.index("eflags")] = 0x202
        for name_, value in (("cs", 0x1B), ("ss", 0x23), ("ds", 0x23), ("es", 0x23)):
            self.regs[REGISTERS.index(name_)] = value
        self.regs[0] = tid  # eax: something recognisable
        self.pages: dict[int, bytearray] = {STACK: bytearray(PAGE)}
        self.poke(CODE, code)
        self.poke(DATA, data)

    def poke(self, addr: int, data: bytes) -> None:
        for i, b in enumerate(data):
            page = self.pages.setdefault((addr + i) & ~(PAGE - 1), bytearray(PAGE))
            page[(addr + i) % PAGE] = b

    def byte(self, addr: int) -> int | None:
        page = self.pages.get(addr & ~(PAGE - 1))
        return None if page is None else page[addr % PAGE]


class FakeTarget(Target):
    """Two envs: 0x1000 "spin" loops forever, 0x1001 "exits" halts after 3 instructions."""

    def __init__(self):
        self.envs = {0x1000: FakeThread(0x1000, "spin", SPIN, bytes(range(0x11, 0x21))),
                     0x1001: FakeThread(0x1001, "exits", EXITS, bytes(range(0xA1, 0xB1)))}
        self.breakpoints: dict[int, str] = {}
        self.detached = self.killed = False
        self.last_stop: int | None = None
        self.resumes: list[tuple[str, int | None]] = []
        self.running = threading.Event()
        self._lock = threading.Lock()
        self._interrupt = False

    def _env(self, tid: int) -> FakeThread:
        if tid not in self.envs:
            raise TargetError(f"no env {tid:x}", errno=2)
        return self.envs[tid]

    def threads(self) -> list[int]:
        return sorted(self.envs)

    def thread_info(self, tid: int) -> str:
        return f"env {tid:08x} {self._env(tid).name} RUNNABLE"

    def read_registers(self, tid: int) -> list[int]:
        return list(self._env(tid).regs)

    def write_registers(self, tid: int, values) -> None:
        if values[REGISTERS.index("cs")] & 3 != 3:
            raise TargetError("cs must be a user segment")
        self._env(tid).regs = [v & 0xFFFFFFFF for v in values]

    def read_memory(self, tid: int, addr: int, length: int) -> bytes:
        env = self._env(tid)
        out = bytearray()
        for a in range(addr, addr + length):
            b = env.byte(a & 0xFFFFFFFF)
            if b is None:
                break
            out.append(b)
        if not out:
            raise TargetError(f"{addr:#x} not mapped", errno=EFAULT)
        return bytes(out)

    def write_memory(self, tid: int, addr: int, data: bytes) -> None:
        env = self._env(tid)
        if any(env.byte(a) is None for a in range(addr, addr + len(data))):
            raise TargetError(f"{addr:#x} not mapped", errno=EFAULT)
        env.poke(addr, data)

    def insert_breakpoint(self, kind: str, addr: int) -> None:
        self.breakpoints[addr] = kind

    def remove_breakpoint(self, kind: str, addr: int) -> None:
        self.breakpoints.pop(addr, None)

    def _execute(self, env: FakeThread) -> bool:
        """One instruction of env; False if it halted (and is gone)."""
        eip = env.regs[EIP]
        op = env.byte(eip)
        if op == HLT or op is None:
            del self.envs[env.tid]
            return False
        if op == JMP:
            disp = env.byte(eip + 1)
            env.regs[EIP] = (eip + 2 + (disp - 256 if disp > 127 else disp)) & 0xFFFFFFFF
        else:
            env.regs[EIP] = eip + 1
        return True

    def resume(self, action: str, tid: int | None) -> StopEvent:
        self.resumes.append((action, tid))
        if action == STEP:
            env = self._env(tid)
            alive = self._execute(env)
            return StopEvent(SIGTRAP, tid, STOP_STEP) if alive else self._after_exit()
        with self._lock:
            self._interrupt = False
            self.running.set()
        try:
            return self._continue(tid)
        finally:
            with self._lock:
                self.running.clear()

    def _continue(self, first: int | None) -> StopEvent:
        order = self.threads()
        if first in order:
            order = order[order.index(first):] + order[:order.index(first)]
        started = {}  # the thread stopped at a breakpoint executes it first
        if self.last_stop in self.envs:
            started[self.last_stop] = self.envs[self.last_stop].regs[EIP]
        count = 0
        while True:
            for t in list(order):
                env = self.envs.get(t)
                if env is None:
                    continue
                eip = env.regs[EIP]
                if eip in self.breakpoints and started.pop(t, None) != eip:
                    reason = (STOP_HW_BREAKPOINT if self.breakpoints[eip] == HW_BREAK
                              else STOP_BREAKPOINT)
                    self.last_stop = t
                    return StopEvent(SIGTRAP, t, reason)
                started.pop(t, None)
                self._execute(env)
            if not self.envs:
                return StopEvent(0, None, STOP_EXITED, exit_code=0)
            count += 1
            if count % 256 == 0:
                time.sleep(0.001)
            with self._lock:
                if self._interrupt:
                    return StopEvent(SIGINT, self.threads()[0], STOP_INTERRUPT)

    def _after_exit(self) -> StopEvent:
        if not self.envs:
            return StopEvent(0, None, STOP_EXITED)
        return StopEvent(SIGTRAP, self.threads()[0], STOP_STEP)

    def interrupt(self) -> None:
        with self._lock:
            if self.running.is_set():
                self._interrupt = True

    def monitor(self, command: str) -> str:
        if command.strip() == "envs":
            return "".join(self.thread_info(t) + "\n" for t in self.threads())
        raise TargetError(f"unknown monitor command {command.strip()!r}")

    def detach(self) -> None:
        self.breakpoints.clear()
        self.detached = True

    def kill(self) -> None:
        self.envs.clear()
        self.killed = True
