"""Protocol tests of the gdb server (pyjos.tools.gdb) against a fake target.

Each test talks RSP over a socketpair to a Session running FakeTarget
(tests/gdbfake.py) in a thread, byte for byte as gdb would.
"""

from __future__ import annotations

import random
import socket
import threading
import time
import xml.etree.ElementTree as ET

import pytest

from gdbfake import CODE, DATA, PAGE, FakeTarget
from pyjos.tools.gdb import packet
from pyjos.tools.gdb.packet import PACKET_SIZE, PacketReader, ProtocolError
from pyjos.tools.gdb.session import DETACHED, KILLED, Session
from pyjos.tools.gdb.target import REGISTERS
from pyjos.tools.gdb.tdesc import X87_REGISTERS, target_xml


class Client:
    """gdb's side of a connection to a Session serving `target`."""

    def __init__(self, target: FakeTarget):
        self.target = target
        self.logs: list[str] = []
        self.sock, server_end = socket.socketpair()
        self.sock.settimeout(5)
        self.session = Session(target, server_end, log=self.logs.append)
        self.outcome = None
        self.ack_mode = True
        self._buf = b""
        self._server_end = server_end
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.outcome = self.session.serve()
        self._server_end.close()

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _more(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("server closed the connection")
        self._buf += chunk

    def byte(self) -> bytes:
        while not self._buf:
            self._more()
        b, self._buf = self._buf[:1], self._buf[1:]
        return b

    def packet(self) -> bytes:
        """The next packet the server sends (checked, acknowledged)."""
        while b"#" not in self._buf or len(self._buf) < self._buf.index(b"#") + 3:
            self._more()
        start = self._buf.index(b"$")
        assert self._buf[:start] == b"", f"stray bytes before a packet: {self._buf[:start]!r}"
        end = self._buf.index(b"#")
        data, cs = self._buf[1:end], self._buf[end + 1:end + 3]
        self._buf = self._buf[end + 3:]
        assert int(cs, 16) == packet.checksum(data)
        if self.ack_mode:
            try:
                self.raw(b"+")
            except BrokenPipeError:
                pass  # the server closed after its last reply (D)
        return data

    def ask(self, data: bytes) -> bytes:
        """Send a packet, expect the ack, return the reply."""
        self.raw(packet.frame(data))
        if self.ack_mode:
            assert self.byte() == b"+"
        return self.packet()

    def send(self, data: bytes) -> None:
        """Send a packet with no reply expected yet (c, s, k...)."""
        self.raw(packet.frame(data))
        if self.ack_mode:
            assert self.byte() == b"+"

    def nothing_pending(self, wait: float = 0.1) -> bool:
        time.sleep(wait)
        self.sock.setblocking(False)
        try:
            return not self._buf and not self.sock.recv(1, socket.MSG_PEEK)
        except BlockingIOError:
            return not self._buf
        finally:
            self.sock.settimeout(5)

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)


@pytest.fixture
def gdb():
    client = Client(FakeTarget())
    yield client
    client.close()
    assert not client.thread.is_alive(), "the session did not end at EOF"


def hexle(value: int) -> bytes:
    return value.to_bytes(4, "little").hex().encode()


# --- framing ------------------------------------------------------------------

def test_reader_acks_interrupt_and_garbage():
    reader = PacketReader()
    events = reader.feed(b"+-\x03junk$m0,4#fd+")
    assert [e.kind for e in events] == ["ack", "nak", "interrupt", "packet", "ack"]
    assert events[3].data == b"m0,4"
    assert reader.dropped == 4


def test_reader_packet_split_across_reads():
    reader = PacketReader()
    wire = packet.frame(b"qSupported:xmlRegisters=i386")
    events = [e for i in range(len(wire)) for e in reader.feed(wire[i:i + 1])]
    assert events == [packet.Event(packet.PACKET, b"qSupported:xmlRegisters=i386")]


def test_reader_bad_checksums():
    reader = PacketReader()
    assert reader.feed(b"$g#00")[0].kind == packet.BAD
    assert reader.feed(b"$g#zz")[0].kind == packet.BAD
    assert reader.feed(b"$g#67") == [packet.Event(packet.PACKET, b"g")]


def test_reader_truncated_packet_is_abandoned():
    reader = PacketReader()
    assert reader.feed(b"$m1234,$g#67") == [packet.Event(packet.PACKET, b"g")]
    assert reader.dropped == 1


def test_reader_overlong_packet_is_bounded():
    reader = PacketReader(limit=16)
    data = b"M0,100:" + b"00" * 0x100
    events = reader.feed(packet.frame(data))
    assert [e.kind for e in events] == [packet.MALFORMED]
    assert len(reader._data) == 16


def test_run_length_decoding():
    assert packet.expand_runs(b"0* ") == b"0000"
    assert packet.expand_runs(b"ab*!c") == b"abbbbbc"
    for bad in (b"*!", b"a*", b"a*\x01"):
        with pytest.raises(ProtocolError):
            packet.expand_runs(bad)
    with pytest.raises(ProtocolError):
        packet.expand_runs(b"a*~" * 20, limit=100)
    assert PacketReader().feed(packet.frame(b"a*"))[0].kind == packet.MALFORMED


def test_escape_round_trip():
    data = bytes(range(256))
    escaped = packet.escape(data)
    for special in b"#$*":
        assert bytes((special,)) not in escaped
    assert packet.unescape(escaped) == data
    assert packet.escape(b"a}b") == b"a}]b"
    with pytest.raises(ProtocolError):
        packet.unescape(b"ab}")


# --- malformed input to a session ------------------------------------------------

def test_bad_checksum_gets_nak_and_session_goes_on(gdb):
    gdb.raw(b"$g#00")
    assert gdb.byte() == b"-"
    assert gdb.ask(b"qAttached") == b"1"


def test_unknown_packets_get_empty_reply(gdb):
    for unknown in (b"vMustReplyEmpty", b"qTStatus", b"!", b"bogus", b"Qfoo", b"Z4,1000,4"):
        assert gdb.ask(unknown) == b"", unknown


def test_overlong_packet_gets_error(gdb):
    assert gdb.ask(b"M802000,1:" + b"00" * PACKET_SIZE) == b"E01"
    assert any("PacketSize" in line for line in gdb.logs)
    assert gdb.ask(b"m802000,1") == b"11"


def test_garbage_and_truncated_packets_are_ignored(gdb):
    gdb.raw(b"\x00\xffhello$m8020")
    assert gdb.ask(b"m802000,2") == b"1112"


@pytest.mark.parametrize("bad", [b"mzz,4", b"m802000", b"M802000,2:1", b"M802000,1:zz",
                                 b"Hx1000", b"Hgq", b"p", b"P8", b"vCont;x", b"vCont;",
                                 b"X802000,2:a", b"Cq", b"Z0,zz,1", b"G00", b"m-5,4",
                                 b"m 10,4", b"m1_0,4", b"m100000000,1", b"Z0,100000000,1",
                                 b"qXfer:features:read:target.xml:0,+1"])
def test_bad_arguments_get_e01(gdb, bad):
    assert gdb.ask(bad) == b"E01"


def test_random_packets_never_end_the_session(gdb):
    """Fuzz: random arguments to every non-running packet; every one gets a reply."""
    rng = random.Random(15)
    alphabet = b"0123456789abcdefxyz,:;=-+}*#$\x00\xff qXferfeatures"
    for _ in range(400):
        head = rng.choice([b"?", b"g", b"G", b"p", b"P", b"m", b"M", b"X", b"Z", b"z", b"H",
                           b"T", b"q", b"Q", b"qXfer:features:read:", b"qRcmd,",
                           b"qThreadExtraInfo,", b"vCont?", b"!"])
        tail = bytes(rng.choice(alphabet) for _ in range(rng.randrange(12)))
        data = packet.escape(head + tail)  # keeps $ and # out of the frame
        reply = gdb.ask(data)
        while reply[:1] == b"O" and reply != b"OK":  # monitor output, then OK
            reply = gdb.packet()
        assert reply == b"" or reply[:1] in b"ETOlmQ0123456789abcdefx", (data, reply)
    assert gdb.ask(b"qAttached") == b"1"
    assert gdb.target.envs[0x1000].regs[10] == 0x1B


def test_nak_retransmits_the_last_reply(gdb):
    assert gdb.ask(b"qAttached") == b"1"
    gdb.raw(b"-")
    assert gdb.packet() == b"1"


def test_no_ack_mode(gdb):
    assert gdb.ask(b"QStartNoAckMode") == b"OK"
    gdb.ack_mode = False
    assert gdb.ask(b"qAttached") == b"1"
    gdb.raw(b"$g#00")  # no nak in no-ack mode
    assert gdb.nothing_pending()


# --- replies ---------------------------------------------------------------------

def test_qsupported(gdb):
    features = gdb.ask(b"qSupported:multiprocess+;swbreak+;hwbreak+;xmlRegisters=i386").split(b";")
    assert b"PacketSize=4000" in features
    for feature in (b"qXfer:features:read+", b"QStartNoAckMode+", b"swbreak+", b"hwbreak+"):
        assert feature in features


def test_target_xml_in_chunks(gdb):
    xml, offset = b"", 0
    while True:
        reply = gdb.ask(b"qXfer:features:read:target.xml:%x,80" % offset)
        xml += packet.unescape(reply[1:])
        offset += len(packet.unescape(reply[1:]))
        if reply[:1] == b"l":
            break
        assert reply[:1] == b"m"
    assert xml == target_xml()
    root = ET.fromstring(xml)
    assert root.find("architecture").text == "i386"
    feature = root.find("feature")
    assert feature.get("name") == "org.gnu.gdb.i386.core"
    names = [reg.get("name") for reg in feature.findall("reg")]
    assert names == list(REGISTERS) + list(X87_REGISTERS)
    assert [int(reg.get("regnum")) for reg in feature.findall("reg")] == list(range(32))


def test_qxfer_errors(gdb):
    assert gdb.ask(b"qXfer:features:read:other.xml:0,100") == b"E00"
    assert gdb.ask(b"qXfer:libraries:read::0,100") == b""
    assert gdb.ask(b"qXfer:features:read:target.xml:0") == b"E01"


def test_status_and_attached(gdb):
    assert gdb.ask(b"?") == b"T05thread:1000;"
    assert gdb.ask(b"qAttached") == b"1"


def test_read_registers(gdb):
    reply = gdb.ask(b"g")
    assert len(reply) == 8 * len(REGISTERS)
    regs = [int.from_bytes(bytes.fromhex(reply[i:i + 8].decode()), "little")
            for i in range(0, len(reply), 8)]
    assert regs == gdb.target.envs[0x1000].regs
    assert gdb.ask(b"p8") == hexle(CODE)
    assert gdb.ask(b"p9") == hexle(0x202)
    assert gdb.ask(b"p10") == b"xx" * 10  # st0: unavailable
    assert gdb.ask(b"p1f") == b"xx" * 4  # fop
    assert gdb.ask(b"p20") == b"E01"


def test_registers_of_the_selected_thread(gdb):
    assert gdb.ask(b"Hg1001") == b"OK"
    assert gdb.ask(b"p0") == hexle(0x1001)
    assert gdb.ask(b"Hg0") == b"OK"
    assert gdb.ask(b"p0") == hexle(0x1000)


def test_write_registers(gdb):
    regs = gdb.target.envs[0x1000].regs
    new = list(regs)
    new[0], new[7] = 0xDEADBEEF, 7
    assert gdb.ask(b"G" + b"".join(hexle(v) for v in new)) == b"OK"
    assert gdb.target.envs[0x1000].regs == new
    assert gdb.ask(b"P8=" + hexle(CODE + 2)) == b"OK"
    assert gdb.target.envs[0x1000].regs[8] == CODE + 2
    assert gdb.ask(b"P10=" + b"00" * 10) == b"E03"  # x87: read-only


def test_target_refusal_is_an_error_reply(gdb):
    assert gdb.ask(b"Pa=" + hexle(0x08)) == b"E01"  # cs ring 0: the target refuses
    assert gdb.target.envs[0x1000].regs[10] == 0x1B


def test_read_memory(gdb):
    assert gdb.ask(b"m802000,4") == b"11121314"
    assert gdb.ask(b"m802ffe,4") == b"0000"  # partial: the next page is unmapped
    assert gdb.ask(b"m10,4") == b"E0e"
    assert gdb.ask(b"m802000,0") == b""
    gdb.target.envs[0x1000].poke(DATA + PAGE, bytes(2 * PAGE))
    assert len(gdb.ask(b"m802000,100000")) == PACKET_SIZE  # capped to fit a packet


def test_memory_is_per_thread(gdb):
    assert gdb.ask(b"M802000,2:beef") == b"OK"
    assert gdb.ask(b"m802000,4") == b"beef1314"
    assert gdb.ask(b"Hg1001") == b"OK"
    assert gdb.ask(b"m802000,4") == b"a1a2a3a4"
    assert gdb.ask(b"M802000,1:77") == b"OK"
    assert gdb.target.envs[0x1000].byte(DATA) == 0xBE
    assert gdb.target.envs[0x1001].byte(DATA) == 0x77


def test_write_memory_errors(gdb):
    assert gdb.ask(b"M10,1:00") == b"E0e"
    assert gdb.ask(b"M802fff,2:0000") == b"E0e"  # all or nothing
    assert gdb.target.envs[0x1000].byte(DATA + PAGE - 1) == 0
    assert gdb.ask(b"M802000,2:00") == b"E01"  # length mismatch


def test_binary_write(gdb):
    assert gdb.ask(b"X802000,0:") == b"OK"  # gdb's probe
    data = b"#$}*"
    assert gdb.ask(b"X802000,4:" + packet.escape(data)) == b"OK"
    assert gdb.ask(b"m802000,4") == data.hex().encode()


# --- threads ------------------------------------------------------------------

def test_thread_listing(gdb):
    assert gdb.ask(b"qfThreadInfo") == b"m1000,1001"
    assert gdb.ask(b"qsThreadInfo") == b"l"
    assert gdb.ask(b"qC") == b"QC1000"
    assert gdb.ask(b"T1001") == b"OK"
    assert gdb.ask(b"T999") == b"E02"
    assert gdb.ask(b"T0") == b"E02"
    assert gdb.ask(b"Hg999") == b"E02"
    assert gdb.ask(b"Hc-1") == b"OK"
    info = gdb.ask(b"qThreadExtraInfo,1001")
    assert bytes.fromhex(info.decode()) == b"env 00001001 exits RUNNABLE"
    assert gdb.ask(b"qThreadExtraInfo,999") == b"E02"


def test_long_thread_info_is_cut_to_a_packet(gdb):
    gdb.target.envs[0x1001].name = "x" * PACKET_SIZE
    reply = gdb.ask(b"qThreadExtraInfo,1001")
    assert len(reply) == PACKET_SIZE
    assert bytes.fromhex(reply.decode()).startswith(b"env 00001001 xxx")


def test_many_threads_span_several_replies(gdb):
    target = gdb.target
    for tid in range(0x2000, 0x2000 + 3000):
        target.envs[tid] = target.envs[0x1000]
    ids, reply = [], gdb.ask(b"qfThreadInfo")
    while reply != b"l":
        assert reply[:1] == b"m" and len(reply) <= PACKET_SIZE
        ids += [int(t, 16) for t in reply[1:].split(b",")]
        reply = gdb.ask(b"qsThreadInfo")
    assert ids == target.threads()


# --- execution -----------------------------------------------------------------

def test_breakpoints_stop_the_thread_that_hits_them(gdb):
    assert gdb.ask(b"Z0,800001,1") == b"OK"  # never reached
    assert gdb.ask(b"Z0,800022,1") == b"OK"
    assert gdb.target.breakpoints == {0x800001: "sw", 0x800022: "sw"}
    gdb.send(b"c")
    assert gdb.packet() == b"T05thread:1000;swbreak:;"
    assert gdb.ask(b"p8") == hexle(0x800022)
    gdb.send(b"c")  # steps off 1000's breakpoint; 1001 is there too
    assert gdb.packet() == b"T05thread:1001;swbreak:;"
    assert gdb.ask(b"z0,800022,1") == b"OK"
    assert gdb.ask(b"z0,800001,1") == b"OK"
    assert gdb.target.breakpoints == {}


def test_hardware_breakpoint(gdb):
    assert gdb.ask(b"Z1,800024,1") == b"OK"
    gdb.send(b"vCont;c")
    assert gdb.packet() == b"T05thread:1000;hwbreak:;"
    assert gdb.ask(b"?") == b"T05thread:1000;hwbreak:;"
    assert gdb.ask(b"z1,800024,1") == b"OK"


def test_step(gdb):
    gdb.send(b"s")
    assert gdb.packet() == b"T05thread:1000;"
    assert gdb.target.envs[0x1000].regs[8] == CODE + 1
    assert gdb.ask(b"Hc1001") == b"OK"
    gdb.send(b"s")
    assert gdb.packet() == b"T05thread:1001;"
    assert gdb.target.resumes == [("step", 0x1000), ("step", 0x1001)]


def test_step_and_continue_at_an_address(gdb):
    gdb.send(b"s800024")
    assert gdb.packet() == b"T05thread:1000;"
    assert gdb.target.envs[0x1000].regs[8] == CODE  # jmp back
    gdb.send(b"S05;800023")
    assert gdb.packet() == b"T05thread:1000;"
    assert gdb.target.envs[0x1000].regs[8] == 0x800024


def test_vcont(gdb):
    assert gdb.ask(b"vCont?") == b"vCont;c;C;s;S"
    gdb.send(b"vCont;s:1001;c")
    assert gdb.packet() == b"T05thread:1001;"
    gdb.send(b"vCont;S05:1001;c")
    assert gdb.packet() == b"T05thread:1001;"
    assert gdb.target.envs[0x1001].regs[8] == CODE + 2
    assert gdb.target.envs[0x1000].regs[8] == CODE
    assert gdb.ask(b"vCont;c:999") == b"E02"
    assert gdb.target.resumes == [("step", 0x1001), ("step", 0x1001)]


def test_ctrl_c_interrupts_a_running_target(gdb):
    gdb.send(b"c")
    assert gdb.target.running.wait(5)
    assert gdb.nothing_pending()  # still running: no stop reply yet
    gdb.raw(b"\x03")
    assert gdb.packet() == b"T02thread:1000;"
    assert 0x1001 not in gdb.target.envs  # it ran to its hlt meanwhile
    assert gdb.ask(b"qfThreadInfo") == b"m1000"
    assert gdb.ask(b"T1001") == b"E02"


def test_ctrl_c_while_stopped_is_ignored(gdb):
    gdb.raw(b"\x03")
    assert gdb.nothing_pending()
    assert gdb.ask(b"qAttached") == b"1"


def test_machine_exit(gdb):
    del gdb.target.envs[0x1000]
    gdb.send(b"vCont;c")
    assert gdb.packet() == b"W00"
    assert gdb.ask(b"?") == b"W00"
    assert gdb.ask(b"qfThreadInfo") == b"l"
    assert gdb.ask(b"g") == b"E02"


# --- monitor, detach, kill, disconnect ------------------------------------------------

def test_monitor_output_in_o_packets(gdb):
    gdb.send(b"qRcmd," + b"envs".hex().encode())
    out = b""
    while (reply := gdb.packet()) != b"OK":
        assert reply[:1] == b"O"
        out += bytes.fromhex(reply[1:].decode())
    assert out == b"env 00001000 spin RUNNABLE\nenv 00001001 exits RUNNABLE\n"


def test_unknown_monitor_command(gdb):
    gdb.send(b"qRcmd," + b"frobnicate".hex().encode())
    assert bytes.fromhex(gdb.packet()[1:].decode()) == (
        b"pyjos: unknown monitor command 'frobnicate'\n")
    assert gdb.packet() == b"OK"
    assert gdb.ask(b"qRcmd,zz") == b"E01"


def test_detach(gdb):
    gdb.ask(b"Z0,800022,1")
    assert gdb.ask(b"D") == b"OK"
    gdb.thread.join(5)
    assert gdb.outcome == DETACHED
    assert gdb.target.detached and gdb.target.breakpoints == {}


def test_kill(gdb):
    gdb.send(b"k")
    gdb.thread.join(5)
    assert gdb.outcome == KILLED and gdb.target.killed


def test_disconnect_while_running_detaches(gdb):
    gdb.send(b"c")
    assert gdb.target.running.wait(5)
    gdb.sock.close()
    gdb.thread.join(5)
    assert not gdb.thread.is_alive()
    assert gdb.target.detached and not gdb.target.running.is_set()
