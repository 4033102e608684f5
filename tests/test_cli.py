"""The `pyjos` command line, run as a subprocess: exit codes, messages, output files."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import check_no_leaks, guest_source, pyjos_cli as pyjos
from pyjos import __version__
from pyjos.tools import cli, costmodel
from pyjos.kernel import syscall
from pyjos.guest.elf import ElfError
from pyjos.kernel import Kernel, KernelConfig

HELLO_LINES = [
    "SMP: CPU 0 found 1 CPU(s)",  # JOS lab 4's boot lines
    "enabled interrupts: 1 2",
    "[00000000] new env 00001000",
    "hello, world",
    "i am environment 00001000",
    "[00001000] exiting gracefully",
    "[00001000] free env 00001000",
    "No runnable environments in the system!",
    "Welcome to the JOS kernel monitor!",  # sched_halt enters the monitor
    "Type 'help' for a list of commands.",
]


def assert_one_line_error(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.stderr.startswith("pyjos: "), proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr


def test_version():
    proc = pyjos("--version")
    assert proc.returncode == 0
    assert re.fullmatch(rf"pyjos {re.escape(__version__)} \(unicorn [\d.]+\)\n", proc.stdout), proc.stdout


def test_list_shows_programs_with_descriptions():
    proc = pyjos("list")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    hello = [line for line in lines if line.split()[0] == "hello"]
    assert len(hello) == 1 and re.fullmatch(r"hello\s+\S.*", hello[0]), proc.stdout
    names = {line.split()[0] for line in lines}
    assert {"faultread", "forktree", "primes", "spin", "pingpong"} <= names


def test_run_hello():
    proc = pyjos("run", "hello")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].startswith(f"# pyjos {__version__}"), lines[0]  # the settings are echoed first
    assert re.search(r"quantum \d+", lines[0]) and "mem 128 MiB" in lines[0], lines[0]
    assert lines[1:] == HELLO_LINES
    assert proc.stderr == ""


def test_run_quiet_two_programs():
    proc = pyjos("run", "-q", "hello", "hello")
    assert proc.returncode == 0, proc.stderr
    assert not proc.stdout.startswith("#")
    assert "i am environment 00001000" in proc.stdout
    assert "i am environment 00001001" in proc.stdout


def test_unknown_program():
    proc = pyjos("run", "nosuchprogram")
    assert proc.returncode == 1
    assert_one_line_error(proc)
    assert len(proc.stderr.splitlines()) == 1
    assert "nosuchprogram" in proc.stderr


def test_missing_c_file(tmp_path: Path):
    proc = pyjos("run", str(tmp_path / "absent.c"))
    assert proc.returncode == 1
    assert_one_line_error(proc)
    assert len(proc.stderr.splitlines()) == 1


def test_not_a_c_file(tmp_path: Path):
    path = tmp_path / "prog.txt"
    path.write_text("int x;\n")
    proc = pyjos("run", str(path))
    assert proc.returncode == 1
    assert_one_line_error(proc)


def test_compile_error():
    proc = pyjos("run", "-q", guest_source("broken"))
    assert proc.returncode == 1
    assert_one_line_error(proc)
    assert "broken" in proc.stderr.splitlines()[0]
    assert "error" in proc.stderr  # the compiler's own message follows
    assert "broken.c:2" in proc.stderr


def test_link_error():
    proc = pyjos("run", "-q", guest_source("nolink"))
    assert proc.returncode == 1
    assert_one_line_error(proc)
    assert "no_such_function" in proc.stderr


def test_user_program_with_args():
    proc = pyjos("run", "-q", guest_source("prog"), "--", "a", "b")
    assert proc.returncode == 0, proc.stderr
    assert "argc=3\nargv[0]=prog\nargv[1]=a\nargv[2]=b\n" in proc.stdout, proc.stdout


def test_args_after_double_dash_are_not_flags():
    proc = pyjos("run", "-q", guest_source("prog"), "--", "--quantum", "0")
    assert proc.returncode == 0, proc.stderr
    assert "argv[1]=--quantum\nargv[2]=0\n" in proc.stdout


def test_malformed_elf_via_api():
    out: list[str] = []
    k = Kernel(KernelConfig(), out=out.append)
    with pytest.raises(ElfError):
        k.create_env_from_elf("x", b"garbage")
    with pytest.raises(ElfError):
        k.create_env_from_elf("x", b"\x7fELF" + bytes(60))
    assert k.create_env("hello") == 0x1000  # nothing was allocated for the bad images
    result = k.run()
    assert result.reason == "idle"
    check_no_leaks(k, result, "".join(out))
    assert "".join(out).splitlines() == HELLO_LINES
    assert k.pmap.nfree == k.baseline_free


def test_max_insns():
    proc = pyjos("run", "-q", "--max-insns", "100000", guest_source("forever"))
    assert proc.returncode == 4, proc.stderr
    assert_one_line_error(proc)
    assert "looping for ever" in proc.stdout
    assert "No runnable environments" not in proc.stdout


def test_max_insns_spinning_child():
    """spin's scenario without the kill: a forked child that never yields."""
    proc = pyjos("run", "-q", "--max-insns", "100000", "--quantum", "10000",
                 guest_source("spinforever"))
    assert proc.returncode == 4, proc.stderr
    assert "parent done" in proc.stdout
    assert "[00001000] free env 00001000" in proc.stdout


def test_stats():
    proc = pyjos("run", "-q", "--stats", "hello")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "--- stats ---" in out
    counters = dict(re.findall(r"^(\S+)\s+([\d,]+)$", out.split("--- stats ---")[1], re.M))
    assert int(counters["syscalls.getenvid"].replace(",", "")) >= 1
    assert int(counters["traps.syscall"].replace(",", "")) >= 3


def test_stats_json(tmp_path: Path):
    path = tmp_path / "stats.json"
    proc = pyjos("run", "-q", "--stats-json", str(path), "hello")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(path.read_text())
    assert set(data) >= {"total", "per_env"}
    assert data["total"]["syscalls.getenvid"] > 0
    assert "00001000" in data["per_env"]
    assert data["per_env"]["00001000"]["syscalls.getenvid"] == data["total"]["syscalls.getenvid"]


def test_stats_with_models_prices_each_event(tmp_path: Path):
    path = tmp_path / "stats.json"
    proc = pyjos("run", "-q", "--stats", "--stats-json", str(path), "--model", "p4,i386",
                 "forktree")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(path.read_text())
    table = proc.stdout.split("--- modelled cycles")[1].splitlines()
    assert table[1].split() == ["event", "count", "p4", "i386"]
    rows = {line.split()[0]: line.split()[1:] for line in table[2:]}
    assert set(rows) == set(costmodel.EVENTS) | {"total", "ms"}
    assert rows["trap"][0] == f"{sum(v for k, v in data['total'].items() if k.startswith('traps.') and k != 'traps.timer'):,}"
    for col, name in ((1, "p4"), (2, "i386")):
        model = costmodel.PRESETS[name]
        for event in costmodel.EVENTS:  # count x the model's price, for every event
            count = int(rows[event][0].replace(",", ""))
            assert int(rows[event][col].replace(",", "")) == round(model.cycles[event] * count)
        assert int(rows["total"][col - 1].replace(",", "")) == data["models"][name]["cycles"]
        assert data["models"][name]["cycles"] == sum(data["models"][name]["per_event"].values())
        assert data["models"][name]["ms"] == pytest.approx(
            data["models"][name]["cycles"] / model.clock_ghz / 1e6)
    assert data["models"]["i386"]["cycles"] == round(
        costmodel.I386.cost(costmodel.event_counts(data["total"])))


@pytest.mark.parametrize("flags,code,message", [
    (["--model", "i386"], 1,
     "pyjos: --model prices the counters: give it with --stats or --stats-json"),
    (["--stats", "--model", "i386,z80"], 2, "unknown cost model 'z80'"),
])
def test_model_needs_the_counters_and_known_names(flags, code, message):
    proc = pyjos("run", "-q", *flags, "hello")
    assert proc.returncode == code and proc.stdout == ""
    assert message in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize("flags", [
    ["run", "--quantum", "0", "hello"],
    ["run", "--quantum", "abc", "hello"],
    ["run", "--mem", "1", "hello"],
    ["run", "--mem", "100000", "hello"],
    ["run", "--max-insns", "-5", "hello"],
    ["run"],
    ["frobnicate"],
    [],
    ["bench", "nosuchbench"],
])
def test_bad_usage(flags):
    proc = pyjos(*flags)
    assert proc.returncode == 2, proc.stderr
    assert "usage:" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_bench_syscall_json():
    proc = pyjos("bench", "syscall", "--json", "--iterations", "2000", "--repeat", "1")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert {"us_per_syscall", "us_per_page_map", "us_per_switch"} <= set(data)
    assert data["traps_per_page_map"] == data["traps_per_syscall"] == 1.0
    assert isinstance(data["us_per_syscall"], (int, float))
    assert isinstance(data["us_per_switch"], (int, float))
    assert data["iterations"] == 2000 and data["repeat"] == 1


def test_kernel_panic_exit_code(monkeypatch, capsys):
    """A Python exception in a syscall handler is a kernel panic: exit code 3."""
    def boom(k):
        raise RuntimeError("injected")

    num = int(syscall.Sys.SYS_getenvid)
    entry = syscall.TABLE[num]
    monkeypatch.setitem(syscall.TABLE, num, entry._replace(handler=boom, nargs=0))
    assert cli.main(["run", "-q", "hello"]) == 3
    captured = capsys.readouterr()
    assert "kernel panic: kernel bug in a system call: RuntimeError: injected" in captured.out
    assert captured.err.startswith("pyjos: kernel panic:")
    assert len(captured.err.splitlines()) == 1


def test_sigint_stops_a_run_cleanly():
    """Ctrl-C must stop pyjos even while the CPU runs inside Unicorn's callbacks
    (where ctypes would swallow a KeyboardInterrupt)."""
    import signal
    import time

    prog = guest_source("getenvidloop")
    build = pyjos("run", "-q", "--max-insns", "1000", prog)  # build it first
    assert build.returncode == 4, build.stderr
    proc = subprocess.Popen([sys.executable, "-m", "pyjos", "run", "--stats", prog],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    header = _wait_for(proc.stdout.fileno(), b"\n", 60)  # booted (a loaded machine is slow)
    assert header.startswith(b"# pyjos"), header
    time.sleep(1)
    proc.send_signal(signal.SIGINT)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("pyjos did not stop on SIGINT")
    assert proc.returncode == 130, err
    assert "pyjos: interrupted" in err and "Traceback" not in err
    assert "syscalls.getenvid" in out  # the counters of the run so far


def _wait_for(stream_fd: int, text: bytes, timeout: float) -> bytes:
    """Read fd until text appears (or the time is up); what was read."""
    import os
    import select
    import time

    seen, end = b"", time.monotonic() + timeout
    while text not in seen and time.monotonic() < end:
        ready, _, _ = select.select([stream_fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(stream_fd, 4096)
            except OSError:  # a pty reads EIO once the child is gone
                break
            if not chunk:
                break
            seen += chunk
    return seen


def _interrupt_and_time(proc: subprocess.Popen) -> float:
    """SIGINT proc; seconds until it exited (fails after 10 s)."""
    import signal
    import time

    start = time.monotonic()
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("pyjos did not stop on SIGINT")
    return time.monotonic() - start


@pytest.mark.parametrize("cpus", ["1", "4"])
def test_sigint_stops_a_long_time_slice(cpus):
    """Ctrl-C in the middle of a 10^9-block slice of a spinning env (no trap
    for minutes) stops the machine within a fraction of a second (with 4
    CPUs, in a sub-slice of 2.5 * 10^8 blocks, the other CPUs idle or paused)."""
    assert pyjos("run", "-q", "--max-insns", "1000", "spin").returncode == 4  # built
    proc = subprocess.Popen([sys.executable, "-m", "pyjos", "run", "-q", "--cpus", cpus,
                             "--quantum", "1000000000", "spin"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    seen = _wait_for(proc.stdout.fileno(), b"Spinning...", 60)
    assert b"Spinning..." in seen, seen
    took = _interrupt_and_time(proc)
    err = proc.stderr.read().decode()
    assert proc.returncode == 130 and "pyjos: interrupted" in err and "Traceback" not in err, err
    assert took < 3, f"took {took:.2f} s"  # measured ~0.05 s on a quiet machine


@pytest.mark.parametrize("argv", [["breakpoint"],
                                  ["--cpus", "4", str(guest_source("spinforever")), "breakpoint"]],
                         ids=["1cpu", "4cpus"])
def test_sigint_at_the_monitor_prompt(argv):
    """Ctrl-C at the monitor's K> prompt (stdin a terminal) ends the run; with
    4 CPUs, while the monitor holds every CPU (one of them spinning)."""
    import os
    import pty

    pyjos("run", "-q", "--max-insns", "1000", *argv)  # built
    main, sub = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "pyjos", "run", "-q", *argv],
                            stdin=sub, stdout=sub, stderr=sub, close_fds=True)
    os.close(sub)
    try:
        seen = _wait_for(main, b"K> ", 60)
        assert b"K> " in seen, seen
        took = _interrupt_and_time(proc)
        seen += _wait_for(main, b"interrupted", 5)
    finally:
        os.close(main)
    assert proc.returncode == 130 and b"pyjos: interrupted" in seen, seen
    assert b"Traceback" not in seen and took < 3, (took, seen)
