"""Real gdb against the real kernel: `pyjos run --gdb` (issue 15's scenarios).

Each test starts `python -m pyjos run --gdb 127.0.0.1:0 ...`, reads the gdb
command it prints, and drives Debian's gdb in batch mode (installed by
scripts/ensure-tools.sh through the gdb_tool fixture when missing).
"""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from pyjos.tools.gdb import packet
from test_gdb_real import gdb_tool  # noqa: F401  (the fixture)

GDBCOW = str(Path(__file__).parent / "gdbprogs" / "gdbcow.c")
_COMMAND = re.compile(r"^#   gdb -ex 'target remote ([\d.]+):(\d+)' (\S+)$")


class Pyjos:
    """A `pyjos run --gdb` process; its stdout is collected by a thread."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "pyjos", "run", "-q", "--gdb", "127.0.0.1:0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        line = self.wait_line("#   gdb ")
        match = _COMMAND.match(line)
        assert match, line
        self.host, self.port, self.elf = match[1], int(match[2]), match[3]

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))

    def wait_line(self, prefix: str, timeout: float = 60) -> str:
        """The first stdout line starting with prefix (waiting for it)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if line.startswith(prefix):
                    return line
            if self.proc.poll() is not None and not self._reader.is_alive():
                break
            time.sleep(0.05)
        raise AssertionError(f"no line {prefix!r} in {self.lines}; stderr "
                             f"{self.proc.stderr.read() if self.proc.poll() is not None else ''}")

    def finish(self, timeout: float = 60) -> tuple[int, str, str]:
        """(exit status, console without the '# ' lines, stderr)."""
        try:
            self.proc.wait(timeout)  # stdout is the reader thread's alone
        finally:
            self.proc.kill()
        err = self.proc.stderr.read()  # a few lines: never fills the pipe
        self._reader.join(5)
        console = "\n".join(line for line in self.lines if not line.startswith("#")) + "\n"
        return self.proc.returncode, console, err


def gdb_command(gdb: str, target: Pyjos, commands: list[str], tmp_path: Path) -> list[str]:
    """gdb in batch mode, one -ex per command (a failing one does not stop the
    rest); a multi-line command is sourced from a file."""
    args = [gdb, "-batch", "-nx", "-ex", "set pagination off", "-ex", "set confirm off",
            "-ex", f"target remote {target.host}:{target.port}"]
    for i, command in enumerate(commands):
        if "\n" in command:
            script = tmp_path / f"block{i}.gdb"
            script.write_text(command + "\n")
            command = f"source {script}"
        args += ["-ex", command]
    return [*args, target.elf]


def run_gdb(gdb: str, target: Pyjos, commands: list[str], tmp_path: Path) -> str:
    done = subprocess.run(gdb_command(gdb, target, commands, tmp_path), capture_output=True,
                          text=True, timeout=120, stdin=subprocess.DEVNULL)
    return done.stdout + done.stderr


def plain_console(*args: str) -> str:
    """The console of the same run without gdb."""
    done = subprocess.run([sys.executable, "-m", "pyjos", "run", "-q", *args],
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_break_umain_backtrace_monitor_detach(gdb_tool, tmp_path):
    target = Pyjos("hello")
    out = run_gdb(gdb_tool, target, [
        "info threads", "break umain", "continue", "bt", "print binaryname", "x/x 0",
        "monitor envs", "monitor vm", "monitor tf", "monitor stats", "monitor backtrace",
        "monitor vm 2000", "monitor reboot", "detach"], tmp_path)
    status, console, err = target.finish()
    assert "_start () at" in out and "entry.S" in out  # stopped before the first instruction
    assert "* 1    Thread 4096 (env 00001000 hello RUNNING cpu 0)" in out
    assert re.search(r"Breakpoint 1, umain \(argc=1, argv=0x[0-9a-f]+\) at \S+hello\.c:\d+", out), out
    assert re.search(r"#1  0x[0-9a-f]+ in libmain \(.*\) at \S+libmain\.c:\d+", out), out
    assert '= 0xeebfdffa "hello"' in out
    assert "Cannot access memory at address 0x0" in out
    assert "  00001000 parent 00000000 ENV_RUNNING" in out  # monitor envs
    assert re.search(r"00800000  [0-9a-f]{5} +\d+  P-U--", out), out  # vm: text
    assert "TRAP frame at 0x" in out and "  eip  0x" in out  # tf
    assert re.search(r"traps\.syscall +\d+", out), out  # stats
    assert "Stack backtrace:" in out
    assert "pyjos: no env 00002000" in out
    assert "pyjos: unknown monitor command 'reboot'" in out
    assert "[Inferior 1 (Remote target) detached]" in out
    assert status == 0, err
    assert console == plain_console("hello")  # the run went on as usual
    assert "Traceback" not in err


def test_fork_threads_copy_on_write(gdb_tool, tmp_path):
    target = Pyjos(GDBCOW)
    out = run_gdb(gdb_tool, target, [
        "break child_start", "continue", "info threads",
        "print counter", "set var counter = 77", "print counter",
        "set var *(char *)parent_fmt = 'P'", "print parent_fmt",
        "thread 1", "print counter", "print parent_fmt",
        "delete", "hbreak child_wrote", "continue", "print counter",
        "thread 1", "print counter", "detach"], tmp_path)
    status, console, err = target.finish()
    # the breakpoint is hit in the child, which gdb learns about as a new thread
    assert re.search(r'Thread 2 "[^"]*" hit Breakpoint 1, child_start \(\)|'
                     r"Thread 2 hit Breakpoint 1, child_start \(\)", out), out
    assert re.search(r"1    Thread 4096 \(env 00001000 gdbcow RUNNABLE\)", out), out
    assert re.search(r"\* 2    Thread 4097 \(env 00001001 gdbcow RUNNING cpu 0\) child_start", out), out
    values = re.findall(r"^\$\d+ = (.*)$", out, re.M)
    assert values == ["1", "77", '"Parent: counter %d\\n"', "1", '"parent: counter %d\\n"',
                      "2", "1"], out
    assert re.search(r"Hardware assisted breakpoint 2 at .*\n(.*\n)*Thread 2 hit Breakpoint 2, child_wrote", out), out
    assert status == 0, err
    assert "child: counter 77\n" in console  # the child's own copy
    assert "child: wrote 2\n" in console
    assert "parent: counter 1\n" in console  # the parent never saw either write


def test_stepi_over_a_system_call(gdb_tool, tmp_path):
    target = Pyjos("hello")
    out = run_gdb(gdb_tool, target, [
        "break sys_getenvid", "continue",
        "while *(unsigned short *)$pc != 0x30cd\n  stepi\nend",
        "set $at = $pc", "print/x $eax", "stepi", "print $pc == $at + 2", "print/x $eax",
        "print $_thread", "continue"], tmp_path)
    status, console, err = target.finish()
    values = re.findall(r"^\$\d+ = (.*)$", out, re.M)
    assert values == ["0x2", "1", "0x1000", "1"], out  # SYS_getenvid in, the env id out
    assert "[Inferior 1 (Remote target) exited normally]" in out
    assert status == 0 and console == plain_console("hello"), err


def test_step_another_thread(gdb_tool, tmp_path):
    """stepi in an env that is not on the CPU: it is put there and steps."""
    target = Pyjos(GDBCOW)
    out = run_gdb(gdb_tool, target, [
        "break child_start", "continue", "thread 1", "set $at = $pc", "stepi",
        "print $pc != $at", "info threads", "kill"], tmp_path)
    status, console, err = target.finish()
    assert re.findall(r"^\$\d+ = (.*)$", out, re.M) == ["1"], out
    assert "* 1    Thread 4096 (env 00001000 gdbcow RUNNING cpu 0)" in out
    assert "[Inferior 1 (Remote target) killed]" in out
    assert status == 130 and "pyjos: killed by gdb" in err


def _continue_until(gdb: str, tmp_path: Path, args: tuple[str, ...], line: str,
                    commands: list[str]) -> tuple[Pyjos, subprocess.Popen]:
    """pyjos ARGS under a gdb that continues; returns once the console shows line."""
    target = Pyjos(*args)
    proc = subprocess.Popen(gdb_command(gdb, target, ["continue", *commands], tmp_path),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            stdin=subprocess.DEVNULL)
    target.wait_line(line)
    time.sleep(0.3)
    return target, proc


# spin with a time slice too long to end within the test: the child spins
SPIN = ("--quantum", "1000000000", "spin")
FOREVER = str(Path(__file__).parent / "gdbprogs" / "gdbforever.c")


def test_ctrl_c_in_gdb_interrupts_spin(gdb_tool, tmp_path):
    target, gdb = _continue_until(gdb_tool, tmp_path, SPIN, "I am the child.  Spinning...",
                                  ["info threads", "kill"])
    try:
        gdb.send_signal(signal.SIGINT)
        out = gdb.communicate(timeout=60)[0]
    finally:
        gdb.kill()
    status, console, err = target.finish()
    assert "Thread 2 received signal SIGINT" in out or 'received signal SIGINT' in out, out
    assert "* 2    Thread 4097 (env 00001001 spin RUNNING cpu 0)" in out, out
    assert "[Inferior 1 (Remote target) killed]" in out
    assert status == 130 and "pyjos: killed by gdb" in err
    assert "Killing the child" not in console  # it never got that far


def test_ctrl_c_at_the_terminal_ends_pyjos(gdb_tool, tmp_path):
    # waiting for gdb to connect
    waiting = Pyjos("hello")
    waiting.proc.send_signal(signal.SIGINT)
    status, console, err = waiting.finish(30)
    assert status == 130 and err.strip().endswith("pyjos: interrupted"), err
    assert "hello, world" not in console
    # running under gdb (SIGINT is seen when a time slice ends)
    target, gdb = _continue_until(gdb_tool, tmp_path, (FOREVER,), "looping for ever", [])
    try:
        target.proc.send_signal(signal.SIGINT)
        status, console, err = target.finish(30)
        out = gdb.communicate(timeout=60)[0]
    finally:
        gdb.kill()
    assert status == 130 and "pyjos: interrupted" in err, err
    assert "Traceback" not in err + out
    assert "Remote connection closed" in out or "exited" in out, out


def _exchange(conn: socket.socket, data: bytes, nak: bool = False) -> bytes:
    """Send data; the reply up to a whole packet (or a lone '-' if nak)."""
    conn.sendall(data)
    conn.settimeout(30)
    reply = b""
    while not (nak and reply == b"-") and not re.search(rb"\$[^#]*#[0-9a-f]{2}$", reply):
        chunk = conn.recv(65536)
        assert chunk, reply
        reply += chunk
    return reply


def test_bad_packets_do_not_hurt_the_machine():
    target = Pyjos("hello")
    with socket.create_connection((target.host, target.port)) as conn:
        assert _exchange(conn, b"$?#00", nak=True) == b"-"  # bad checksum
        assert _exchange(conn, packet.frame(b"qBogus")) == b"+" + packet.frame(b"")  # unknown packet
        assert _exchange(conn, packet.frame(b"M800000," + b"0" * 0x5000)).endswith(packet.frame(b"E01"))
        assert _exchange(conn, packet.frame(b"m0,4")) == b"+" + packet.frame(b"E0e")  # unmapped
        assert _exchange(conn, packet.frame(b"Hg7fffffff")) == b"+" + packet.frame(b"E02")  # no such env
        assert _exchange(conn, packet.frame(b"M800000,2:zz")) == b"+" + packet.frame(b"E01")
        assert _exchange(conn, packet.frame(b"G" + b"0" * 128)).startswith(b"+$E01")  # ring 0 cs
        assert _exchange(conn, packet.frame(b"?")).startswith(b"+$T05thread:1000;")
        assert _exchange(conn, packet.frame(b"D")) == b"+" + packet.frame(b"OK")
    status, console, err = target.finish()
    assert status == 0 and console == plain_console("hello"), err


def test_a_second_gdb_stops_a_detached_run(gdb_tool, tmp_path):
    target = Pyjos(FOREVER)
    first = run_gdb(gdb_tool, target, ["detach"], tmp_path)
    assert "[Inferior 1 (Remote target) detached]" in first
    target.wait_line("looping for ever")
    out = run_gdb(gdb_tool, target, ["info threads", "kill"], tmp_path)
    status, console, err = target.finish()
    assert "* 1    Thread 4096 (env 00001000 gdbforever RUNNING cpu 0) umain" in out, out
    assert status == 130 and "pyjos: killed by gdb" in err


@pytest.mark.parametrize("address, message", [
    ("nonsense:99999", "bad gdb address 'nonsense:99999'"),
    ("192.0.2.1:1234", "--gdb 192.0.2.1:1234: Cannot assign requested address"),
])
def test_bad_gdb_address_is_one_line(address, message):
    done = subprocess.run([sys.executable, "-m", "pyjos", "run", "-q", f"--gdb={address}", "hello"],
                          capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1
    assert done.stderr.startswith("pyjos: ") and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1


def test_target_in_process_hooks_only_while_attached():
    """KernelTarget without gdb: a breakpoint hit in the child, refused register
    writes, and after detach no hook is left (the run is as without a debugger)."""
    from pyjos.kernel import Kernel, KernelConfig
    from pyjos.tools.gdb.kernel_target import KernelTarget
    from pyjos.tools.gdb.target import CONTINUE, STOP_BREAKPOINT, SW_BREAK, TargetError

    out: list[str] = []
    kernel = Kernel(KernelConfig(), out=out.append)
    kernel.create_env(GDBCOW)
    target = KernelTarget(kernel)
    machine = kernel.machine
    addr = next(a for a, _size, name in kernel.envtab.programs[0].symbols if name == "child_start")
    seen: dict[str, object] = {}

    def debugger() -> None:
        target.insert_breakpoint(SW_BREAK, addr)
        seen["hooked"] = machine.code_breakpoints()
        seen["stop"] = target.resume(CONTINUE, None)
        regs = target.read_registers(0x1001)
        seen["eip"] = regs[8]
        for i, bad in ((10, 0x08), (9, 0x0)):  # a ring-0 cs; eflags without IF
            try:
                target.write_registers(0x1001, regs[:i] + [bad] + regs[i + 1:])
            except TargetError as exc:
                seen.setdefault("refused", []).append(str(exc))
        seen["threads"] = target.threads()
        target.detach()

    thread = threading.Thread(target=debugger)
    thread.start()
    result = kernel.run()
    target.finish()
    thread.join(10)
    assert seen["hooked"] and addr in seen["hooked"]
    assert seen["stop"].thread == 0x1001 and seen["stop"].reason == STOP_BREAKPOINT
    assert seen["eip"] == addr
    assert len(seen["refused"]) == 2
    assert seen["threads"] == [0x1000, 0x1001]
    assert machine.code_breakpoints() == () and not machine.single_stepping
    assert result.reason == "idle" and "parent: counter 1\n" in "".join(out)


def test_two_cpus_stop_together_and_the_run_completes(gdb_tool, tmp_path):
    """With --cpus 2 every CPU stops while gdb has control: a breakpoint in
    forktree is hit by whichever env runs it, `info threads` names each env's
    CPU, and after the breakpoint is deleted the run ends as without gdb."""
    target = Pyjos("--cpus", "2", "forktree")
    out = run_gdb(gdb_tool, target, ["break forktree", "continue", "continue", "info threads",
                                     "delete", "continue"], tmp_path)
    assert out.count("Breakpoint 1, forktree") == 2, out
    assert re.search(r"Thread \d+ \(env 0000[0-9a-f]{4} forktree \w+ cpu [01]\)", out), out
    assert "exited normally" in out, out
    status, console, _err = target.finish()
    assert status == 0
    assert console.count("exiting gracefully") == 15, console
    assert "SMP: CPU 1 starting" in console
