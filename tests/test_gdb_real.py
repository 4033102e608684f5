"""Real gdb (Debian's package, installed by scripts/ensure-tools.sh when
missing) against the gdb server serving the fake target (tests/gdbfake.py)."""

from __future__ import annotations

import signal
import socket
import subprocess
from pathlib import Path

import pytest

from gdbfake import FakeTarget
from pyjos.tools.gdb import GdbServer

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def gdb_tool() -> str:
    """The gdb command, installed first if missing."""
    done = subprocess.run([str(ROOT / "scripts" / "ensure-tools.sh"), "gdb"],
                          capture_output=True, text=True)
    assert done.returncode == 0, f"cannot install gdb: {done.stderr}"
    return "gdb"


@pytest.fixture
def server():
    logs: list[str] = []
    srv = GdbServer(FakeTarget(), host="127.0.0.1", port=0, log=logs.append)
    srv.start()
    srv.logs = logs
    yield srv
    srv.close()


def gdb_args(gdb_tool: str, srv: GdbServer, commands: list[str]) -> list[str]:
    script = ["set architecture i386", "set pagination off",
              f"target remote {srv.host}:{srv.port}", *commands]
    return [gdb_tool, "-batch", "-nx", *[a for c in script for a in ("-ex", c)]]


def run_gdb(gdb_tool: str, srv: GdbServer, commands: list[str]) -> str:
    done = subprocess.run(gdb_args(gdb_tool, srv, commands), capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    return done.stdout + done.stderr


def test_registers_threads_memory(gdb_tool, server):
    out = run_gdb(gdb_tool, server, [
        "info registers", "info threads", "x/4xw 0x802000", "x/3i $pc",
        "thread 2", "x/4xb 0x802000", "print $eax", "x/xw 0x10", "monitor envs", "detach"])
    assert "eax            0x1000" in out
    assert "eip            0x800020" in out
    assert "eflags         0x202               [ IF ]" in out
    assert "cs             0x1b" in out and "gs             0x0" in out
    assert "* 1    Thread 4096 (env 00001000 spin RUNNABLE)" in out
    assert "  2    Thread 4097 (env 00001001 exits RUNNABLE)" in out
    assert "0x802000:\t0x14131211\t0x18171615\t0x1c1b1a19\t0x201f1e1d" in out
    assert "=> 0x800020:\tnop" in out
    assert "0x802000:\t0xa1\t0xa2\t0xa3\t0xa4" in out  # thread 2's own memory
    assert "$1 = 4097" in out
    assert "Cannot access memory at address 0x10" in out
    assert "env 00001000 spin RUNNABLE\nenv 00001001 exits RUNNABLE\n" in out
    assert "[Inferior 1 (Remote target) detached]" in out
    assert server.target.detached


def test_breakpoints_and_stepping(gdb_tool, server):
    out = run_gdb(gdb_tool, server, [
        "break *0x800022", "continue", "print/x $pc", "stepi", "print/x $pc",
        "delete", "hbreak *0x800024", "continue", "info threads", "kill"])
    assert "Thread 1 hit Breakpoint 1, 0x00800022 in ?? ()" in out
    assert "$1 = 0x800022" in out
    assert "$2 = 0x800023" in out
    assert "Hardware assisted breakpoint 2 at 0x800024" in out
    assert "hit Breakpoint 2, 0x00800024" in out
    assert "[Inferior 1 (Remote target) killed]" in out
    assert server.target.killed
    assert ("step", 0x1000) in server.target.resumes


def test_set_var_changes_only_the_selected_thread(gdb_tool, server):
    out = run_gdb(gdb_tool, server, [
        "thread 2", "set var *(unsigned char *)0x802000 = 0x55", "x/xb 0x802000",
        "thread 1", "x/xb 0x802000", "set var $ecx = 0x77", "print $st0", "set var $st0 = 1",
        "detach"])
    assert "0x802000:\t0x55" in out
    assert "0x802000:\t0x11" in out
    assert server.target.envs[0x1000].byte(0x802000) == 0x11
    assert server.target.envs[0x1001].byte(0x802000) == 0x55
    assert server.target.envs[0x1000].regs[1] == 0x77
    assert "$1 = <unavailable>" in out  # x87 registers are not served
    assert "Could not write register \"st0\"; remote failure reply 'E03'" in out


def test_ctrl_c_interrupts_continue(gdb_tool, server):
    gdb = subprocess.Popen(gdb_args(gdb_tool, server, ["continue", "info threads", "detach"]),
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           stdin=subprocess.DEVNULL)
    try:
        assert server.target.running.wait(30), "gdb never continued the target"
        gdb.send_signal(signal.SIGINT)
        out, _ = gdb.communicate(timeout=30)
    finally:
        gdb.kill()
    assert "received signal SIGINT" in out
    assert "Thread 4097" not in out.split("received signal SIGINT")[1]  # exited meanwhile
    assert "* 1    Thread 4096 (env 00001000 spin RUNNABLE)" in out
    assert server.target.detached


def test_one_client_at_a_time(gdb_tool, server):
    first = socket.create_connection((server.host, server.port))
    try:
        first.sendall(b"$?#3f")
        reply = b""
        while b"#" not in reply:
            reply += first.recv(64)
        assert reply.startswith(b"+$T05")
        out = run_gdb(gdb_tool, server, ["info registers"])
        assert "The program has no registers now." in out, out
        assert any("already attached" in line for line in server.logs)
    finally:
        first.close()
    server.wait_session(5)
    out = run_gdb(gdb_tool, server, ["print/x $eip", "detach"])
    assert "$1 = 0x800020" in out
    assert server.sessions == 2
