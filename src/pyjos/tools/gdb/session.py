"""One gdb connection: read packets, drive the `Target`, send replies.

All-stop mode: while the target runs (c, s, vCont) the session keeps reading
the connection, so Ctrl-C reaches `Target.interrupt`; the stop reply is sent
when `Target.resume` returns.  Unknown packets get the empty reply, packets
with bad arguments ``E01``, a thread that is not live ``E02``, target
failures ``E`` + the TargetError's errno.  A bad checksum gets ``-`` (in ack
mode), an overlong or badly run-length-encoded packet ``E01``; nothing a
client sends ends the session except EOF, ``D`` and ``k``.
"""

from __future__ import annotations

import re
import socket
import threading
from collections.abc import Callable

from . import packet
from .packet import PACKET_SIZE, ProtocolError
from .target import (CONTINUE, EIP, HW_BREAK, REGISTERS, STEP, STOP_EXITED, SW_BREAK,
                     SIGTRAP, StopEvent, Target, TargetError)
from .tdesc import X87_SIZES, target_xml

ERR_ARGS = b"E01"
ERR_THREAD = b"E02"
ERRNO_THREAD = 2  # TargetError errno giving ERR_THREAD
ERR_X87 = b"E03"  # x87 registers cannot be written
MAX_RETRANSMITS = 3
ADDRESS_MAX = 0xFFFFFFFF
_HEX_NUMBER = re.compile(rb"[0-9a-fA-F]{1,16}")
_FEATURES = (b"PacketSize=%x;QStartNoAckMode+;qXfer:features:read+;vContSupported+;"
             b"swbreak+;hwbreak+" % PACKET_SIZE)
_BREAK_KINDS = {b"0": SW_BREAK, b"1": HW_BREAK}
_VCONT_ACTIONS = {b"c": CONTINUE, b"C": CONTINUE, b"s": STEP, b"S": STEP}

# Session outcomes (Session.serve's return value).
CLOSED = "closed"  # the client went away (the target was detached)
DETACHED = "detached"
KILLED = "killed"


def _hex_int(text: bytes) -> int:
    """A non-negative hex number (digits only: no sign, spaces or '_')."""
    if not _HEX_NUMBER.fullmatch(text):
        raise ProtocolError(f"not a hex number: {text[:20]!r}")
    return int(text, 16)


def _addr_len(text: bytes) -> tuple[int, int]:
    """ADDR,LENGTH with a 32-bit address."""
    addr, sep, length = text.partition(b",")
    if not sep:
        raise ProtocolError("expected ADDR,LENGTH")
    addr = _hex_int(addr)
    if addr > ADDRESS_MAX:
        raise ProtocolError(f"address {addr:#x} is beyond 32 bits")
    return addr, _hex_int(length)


def _thread_id(text: bytes) -> int:
    """A thread-id argument: hex id, 0 (any thread) or -1 (all threads)."""
    return -1 if text == b"-1" else _hex_int(text)


def _le32(value: int) -> bytes:
    return (value & 0xFFFFFFFF).to_bytes(4, "little").hex().encode()


def stop_reply(event: StopEvent) -> bytes:
    """The T (or W) packet for a stop event."""
    if event.reason == STOP_EXITED:
        return b"W%02x" % (event.exit_code & 0xFF)
    reply = b"T%02xthread:%x;" % (event.signal, event.thread)
    if event.reason in ("swbreak", "hwbreak"):
        reply += event.reason.encode() + b":;"
    return reply


class Session:
    """The protocol state of one connection `conn` to `target`."""

    def __init__(self, target: Target, conn: socket.socket,
                 log: Callable[[str], None] | None = None):
        self.target = target
        self.conn = conn
        self.log = log or (lambda line: None)
        self.reader = packet.PacketReader()
        self.ack_mode = True
        self.outcome: str | None = None
        self._send_lock = threading.Lock()
        self._last_sent = b""
        self._retransmits = 0
        self._worker: threading.Thread | None = None
        self._stop: StopEvent | None = None  # the last stop (None: stopped at attach)
        self._gthread = 0  # Hg: thread for registers and memory (0: the stopped one)
        self._cthread = 0  # Hc: thread for c and s (0 or -1: any)
        self._thread_list: list[int] = []
        self._handlers = {
            ord("?"): self._h_status, ord("g"): self._h_read_regs, ord("G"): self._h_write_regs,
            ord("p"): self._h_read_reg, ord("P"): self._h_write_reg,
            ord("m"): self._h_read_mem, ord("M"): self._h_write_mem, ord("X"): self._h_write_bin,
            ord("Z"): self._h_insert, ord("z"): self._h_remove,
            ord("c"): self._h_continue, ord("C"): self._h_continue_sig,
            ord("s"): self._h_step, ord("S"): self._h_step_sig,
            ord("H"): self._h_set_thread, ord("T"): self._h_alive,
            ord("q"): self._h_query, ord("Q"): self._h_set, ord("v"): self._h_v,
            ord("D"): self._h_detach, ord("k"): self._h_kill,
        }
        self._queries = {
            b"qSupported": lambda arg: _FEATURES,
            b"qXfer": self._q_xfer, b"qfThreadInfo": self._q_first_threads,
            b"qsThreadInfo": self._q_next_threads, b"qC": self._q_current,
            b"qThreadExtraInfo": self._q_extra_info, b"qAttached": lambda arg: b"1",
            b"qRcmd": self._q_monitor,
        }

    # --- the connection ---------------------------------------------------

    def serve(self) -> str:
        """Handle packets until EOF, D or k; return the outcome."""
        try:
            while self.outcome is None:
                try:
                    chunk = self.conn.recv(4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    self._lost()
                    break
                for event in self.reader.feed(chunk):
                    self._event(event)
                    if self.outcome is not None:
                        break
        finally:
            self._join_worker()
        return self.outcome

    def _lost(self) -> None:
        """The client went away without D: stop any run, then detach."""
        if self._running():
            self.target.interrupt()
            self._join_worker()
        self.target.detach()
        self.outcome = CLOSED

    def _event(self, event: packet.Event) -> None:
        if event.kind == packet.ACK:
            self._retransmits = 0
        elif event.kind == packet.NAK:
            self._retransmit()
        elif event.kind == packet.CTRL_C:
            if self._running():
                self.target.interrupt()
        elif event.kind == packet.BAD:
            self.log(f"gdb: bad packet ({event.data.decode()})")
            if self.ack_mode:
                self._write(b"-")
        else:
            self._acknowledge()
            if event.kind == packet.MALFORMED:
                self.log(f"gdb: malformed packet ({event.data.decode()})")
                self.send(ERR_ARGS)
            else:
                self._packet(event.data)

    def _acknowledge(self) -> None:
        if self.ack_mode:
            self._write(b"+")

    def _write(self, data: bytes) -> None:
        with self._send_lock:
            try:
                self.conn.sendall(data)
            except OSError:
                pass  # the next recv sees EOF and ends the session

    def send(self, data: bytes) -> None:
        """Send one packet (data already escaped where binary)."""
        framed = packet.frame(data)
        self._last_sent = framed
        self._write(framed)

    def _retransmit(self) -> None:
        if self.ack_mode and self._last_sent and self._retransmits < MAX_RETRANSMITS:
            self._retransmits += 1
            self._write(self._last_sent)

    # --- dispatch -----------------------------------------------------------

    def _packet(self, data: bytes) -> None:
        if self._running():
            self._join_worker()  # all-stop: gdb waits for the stop reply
        handler = self._handlers.get(data[0]) if data else None
        if handler is None:
            reply = b""
        else:
            try:
                reply = handler(data[1:])
            except ProtocolError as exc:
                self.log(f"gdb: bad packet {data[:40]!r}: {exc}")
                reply = ERR_ARGS
            except TargetError as exc:
                self.log(f"gdb: {exc}")
                reply = b"E%02x" % (exc.errno & 0xFF)
        if reply is not None:
            self.send(reply)

    def _h_query(self, args: bytes) -> bytes:
        name, _, arg = (b"q" + args).partition(b":")
        if name.startswith(b"qThreadExtraInfo") or name.startswith(b"qRcmd"):
            name, _, arg = (b"q" + args).partition(b",")
        handler = self._queries.get(name)
        return handler(arg) if handler else b""

    def _h_set(self, args: bytes) -> bytes | None:
        if args == b"StartNoAckMode":
            self.send(b"OK")  # still acknowledged by gdb
            self.ack_mode = False
            return None
        return b""

    def _h_v(self, args: bytes) -> bytes | None:
        if args == b"Cont?":
            return b"vCont;c;C;s;S"
        if args.startswith(b"Cont;"):
            return self._vcont(args[5:])
        return b""

    # --- threads --------------------------------------------------------------

    def _live(self, tid: int) -> int:
        """`tid` if live; 0 means the stopped thread (or the first); else ERR_THREAD."""
        threads = self.target.threads()
        if tid in (0, -1):
            tid = self._stop.thread if self._stop and self._stop.thread in threads else 0
            if not tid and threads:
                tid = threads[0]
        if tid not in threads:
            raise TargetError(f"no thread {tid:x}", errno=ERRNO_THREAD)
        return tid

    def _h_set_thread(self, args: bytes) -> bytes:
        op, tid = args[:1], _thread_id(args[1:])
        if op not in (b"g", b"c"):
            raise ProtocolError("H needs g or c")
        if tid not in (0, -1):
            self._live(tid)
        if op == b"g":
            self._gthread = tid
        else:
            self._cthread = tid
        return b"OK"

    def _h_alive(self, args: bytes) -> bytes:
        tid = _thread_id(args)
        return b"OK" if tid > 0 and tid in self.target.threads() else ERR_THREAD

    def _q_first_threads(self, arg: bytes) -> bytes:
        self._thread_list = list(self.target.threads())
        return self._q_next_threads(arg)

    def _q_next_threads(self, arg: bytes) -> bytes:
        if not self._thread_list:
            return b"l"
        reply = b"m"
        while self._thread_list and len(reply) + 9 < PACKET_SIZE:
            reply += b"%x," % self._thread_list.pop(0)
        return reply[:-1]

    def _q_current(self, arg: bytes) -> bytes:
        return b"QC%x" % self._live(0)

    def _q_extra_info(self, arg: bytes) -> bytes:
        tid = self._live(_thread_id(arg))
        text = self.target.thread_info(tid).encode()[:PACKET_SIZE // 2]  # hex fits a packet
        return text.hex().encode()

    # --- registers -----------------------------------------------------------

    def _h_read_regs(self, args: bytes) -> bytes:
        regs = self.target.read_registers(self._live(self._gthread))
        return b"".join(_le32(v) for v in regs)

    def _h_write_regs(self, args: bytes) -> bytes:
        size = 8 * len(REGISTERS)
        if len(args) < size:
            raise ProtocolError("G packet too short")
        values = [int.from_bytes(self._unhex(args[i:i + 8]), "little")
                  for i in range(0, size, 8)]
        self.target.write_registers(self._live(self._gthread), values)
        return b"OK"

    def _h_read_reg(self, args: bytes) -> bytes:
        number = _hex_int(args)
        if number < len(REGISTERS):
            return _le32(self.target.read_registers(self._live(self._gthread))[number])
        x87 = number - len(REGISTERS)
        if x87 < len(X87_SIZES):
            return b"xx" * X87_SIZES[x87]  # unavailable
        return ERR_ARGS

    def _h_write_reg(self, args: bytes) -> bytes:
        number, sep, value = args.partition(b"=")
        number = _hex_int(number)
        if not sep or len(value) != 8:
            if sep and len(REGISTERS) <= number < len(REGISTERS) + len(X87_SIZES):
                return ERR_X87
            raise ProtocolError("P needs N=VALUE with a 32-bit value")
        if number >= len(REGISTERS):
            return ERR_X87
        tid = self._live(self._gthread)
        regs = self.target.read_registers(tid)
        regs[number] = int.from_bytes(self._unhex(value), "little")
        self.target.write_registers(tid, regs)
        return b"OK"

    @staticmethod
    def _unhex(text: bytes) -> bytes:
        try:
            return bytes.fromhex(text.decode("ascii"))
        except (ValueError, UnicodeDecodeError):
            raise ProtocolError("bad hex data") from None

    # --- memory ----------------------------------------------------------------

    def _h_read_mem(self, args: bytes) -> bytes:
        addr, length = _addr_len(args)
        length = min(length, PACKET_SIZE // 2)
        if length == 0:
            return b""
        return self.target.read_memory(self._live(self._gthread), addr, length).hex().encode()

    def _h_write_mem(self, args: bytes) -> bytes:
        return self._write_mem(args, self._unhex)

    def _h_write_bin(self, args: bytes) -> bytes:
        return self._write_mem(args, packet.unescape)

    def _write_mem(self, args: bytes, decode: Callable[[bytes], bytes]) -> bytes:
        """ADDR,LENGTH:DATA (M: hex, X: escaped binary) into the Hg thread's memory."""
        spec, sep, data = args.partition(b":")
        if not sep:
            raise ProtocolError("expected ADDR,LENGTH:DATA")
        data = decode(data)
        addr, length = _addr_len(spec)
        if length != len(data):
            raise ProtocolError("length does not match the data")
        if data:
            self.target.write_memory(self._live(self._gthread), addr, data)
        return b"OK"

    # --- breakpoints --------------------------------------------------------------

    def _h_insert(self, args: bytes) -> bytes:
        return self._breakpoint(args, self.target.insert_breakpoint)

    def _h_remove(self, args: bytes) -> bytes:
        return self._breakpoint(args, self.target.remove_breakpoint)

    @staticmethod
    def _breakpoint(args: bytes, operation: Callable[[str, int], None]) -> bytes:
        """KIND,ADDR,SIZE: Z0/Z1 apply `operation`; watchpoints are unsupported (empty)."""
        kind, _, rest = args.partition(b",")
        addr, _, _size = rest.partition(b",")
        if kind not in _BREAK_KINDS:
            return b""
        operation(_BREAK_KINDS[kind], _addr_len(addr + b",1")[0])
        return b"OK"

    # --- execution --------------------------------------------------------------

    def _h_continue(self, args: bytes) -> None:
        return self._resume(CONTINUE, self._cthread, args)

    def _h_step(self, args: bytes) -> None:
        return self._resume(STEP, self._cthread, args)

    def _h_continue_sig(self, args: bytes) -> None:
        return self._resume(CONTINUE, self._cthread, self._drop_signal(args))

    def _h_step_sig(self, args: bytes) -> None:
        return self._resume(STEP, self._cthread, self._drop_signal(args))

    @staticmethod
    def _drop_signal(args: bytes) -> bytes:
        """C/S SIG[;ADDR]: JOS envs have no signals; the signal is not delivered."""
        sig, _, addr = args.partition(b";")
        _hex_int(sig)
        return addr

    def _vcont(self, args: bytes) -> bytes | None:
        """vCont;ACTION[:TID];...: the first step action wins, else continue all."""
        chosen = None
        for item in args.split(b";"):
            action, _, tid = item.partition(b":")
            if action[:1] not in _VCONT_ACTIONS:
                raise ProtocolError(f"bad vCont action {action!r}")
            if action[:1] in b"CS":
                _hex_int(action[1:])
            tid = _thread_id(tid) if tid else -1
            mode = _VCONT_ACTIONS[action[:1]]
            if chosen is None or (mode == STEP and chosen[0] != STEP):
                chosen = (mode, tid)
        if chosen is None:
            raise ProtocolError("vCont without actions")
        return self._resume(chosen[0], chosen[1], b"")

    def _resume(self, action: str, tid: int, addr: bytes) -> None:
        if tid in (0, -1):
            tid = self._live(self._gthread) if action == STEP else None
        else:
            tid = self._live(tid)
        if addr:
            target_tid = tid or self._live(0)
            regs = self.target.read_registers(target_tid)
            regs[EIP] = _hex_int(addr)
            self.target.write_registers(target_tid, regs)
        self._worker = threading.Thread(target=self._run, args=(action, tid),
                                        name="gdb-resume", daemon=True)
        self._worker.start()
        return None

    def _run(self, action: str, tid: int | None) -> None:
        try:
            event = self.target.resume(action, tid)
        except TargetError as exc:
            self.log(f"gdb: {exc}")
            self.send(b"E%02x" % (exc.errno & 0xFF))
            return
        self._stop = event
        self._gthread = 0
        self.send(stop_reply(event))

    def _running(self) -> bool:
        return self._worker is not None and self._worker.is_alive()

    def _join_worker(self) -> None:
        if self._worker is not None:
            self._worker.join()
            self._worker = None

    def _h_status(self, args: bytes) -> bytes:
        if self._stop is not None:
            return stop_reply(self._stop)
        threads = self.target.threads()
        return b"T%02xthread:%x;" % (SIGTRAP, threads[0]) if threads else b"W00"

    # --- queries with arguments ---------------------------------------------------

    def _q_xfer(self, arg: bytes) -> bytes:
        obj, _, rest = arg.partition(b":")
        op, _, rest = rest.partition(b":")
        annex, _, span = rest.partition(b":")
        if obj != b"features" or op != b"read":
            return b""
        if annex != b"target.xml":
            return b"E00"
        offset, length = _addr_len(span)
        xml = target_xml()
        chunk = xml[offset:offset + min(length, PACKET_SIZE // 2)]
        more = offset + len(chunk) < len(xml)
        return (b"m" if more else b"l") + packet.escape(chunk)

    def _q_monitor(self, arg: bytes) -> bytes:
        command = self._unhex(arg).decode("utf-8", "replace")
        try:
            output = self.target.monitor(command)
        except TargetError as exc:
            output = f"pyjos: {exc}\n"  # gdb shows it; an E reply would read "Protocol error"
        data = output.encode()
        step = (PACKET_SIZE - 1) // 2
        for i in range(0, len(data), step):
            self.send(b"O" + data[i:i + step].hex().encode())
        return b"OK"

    def _h_detach(self, args: bytes) -> None:
        self.send(b"OK")
        self.target.detach()
        self.outcome = DETACHED
        return None

    def _h_kill(self, args: bytes) -> None:
        self.target.kill()
        self.outcome = KILLED
        return None
