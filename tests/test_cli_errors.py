"""The CLI defects of issue 11: every bad input is one `pyjos: ` line, found
before the work starts, and nothing is silently ignored.

cli.main runs in-process (capsys); a boot or a benchmark that starts shows
up as output on stdout, so "no stdout" means the check came first.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from pyjos.tools import cli


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = cli.main(list(argv))
    except SystemExit as exc:  # argparse errors
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("pyjos: "), err
    assert "Traceback" not in err
    return lines[0]


@pytest.mark.parametrize("argv,option,path", [
    (["run", "-q", "--stats-json", "/nonexistent/x.json", "hello"], "--stats-json",
     "/nonexistent/x.json"),
    (["bench", "fork", "--csv", "/nonexistent/x.csv"], "--csv", "/nonexistent/x.csv"),
    (["bench", "fork", "--plot", "/nonexistent/x.png"], "--plot", "/nonexistent/x.png"),
])
def test_output_path_checked_before_the_work(capsys, argv, option, path):
    code, out, err = run(capsys, *argv)
    assert code == cli.EXIT_ERROR
    assert out == ""  # nothing booted, nothing measured
    assert one_line_error(err) == f"pyjos: {option} {path}: no directory /nonexistent"


def test_output_path_that_is_a_directory(capsys, tmp_path: Path):
    code, out, err = run(capsys, "run", "-q", "--stats-json", str(tmp_path), "hello")
    assert code == cli.EXIT_ERROR and out == ""
    assert one_line_error(err).endswith("is a directory")


def test_output_failing_after_the_work_is_one_line(capsys, tmp_path: Path, monkeypatch):
    """A path that passed the check but fails when written still gives one line."""
    target = tmp_path / "stats.json"
    real = Path.write_text

    def fail(self, *a, **k):
        if self == target:
            raise PermissionError(13, "Permission denied")
        return real(self, *a, **k)

    monkeypatch.setattr(Path, "write_text", fail)
    code, _out, err = run(capsys, "run", "-q", "--stats-json", str(target), "hello")
    assert code == cli.EXIT_ERROR
    assert one_line_error(err) == f"pyjos: --stats-json {target}: Permission denied"


@pytest.mark.parametrize("option,value", [
    ("--quantum", "18446744073709551617"), ("--quantum", str(2**64)), ("--quantum", "0"),
    ("--max-insns", str(10**16)), ("--max-insns", "-1"),
])
def test_numeric_options_are_bounded(capsys, option, value):
    code, out, err = run(capsys, "run", option, value, "hello")
    assert code == 2 and out == ""
    assert f"argument {option}: must be from" in err and "usage: pyjos run" in err


def test_bench_and_fuzz_counts_are_bounded(capsys):
    for argv in (["bench", "syscall", "--iterations", str(10**9)],
                 ["bench", "fork", "--repeat", "0"], ["fuzz", "--calls", "0"],
                 ["fuzz", "--envs", "17"], ["fuzz", "--seed", "-1"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and out == "" and "must be from" in err, (argv, err)


def test_forgotten_double_dash_is_found_before_booting(capsys):
    code, out, err = run(capsys, "run", "primes", "1877")
    assert code == cli.EXIT_ERROR and out == ""
    line = one_line_error(err)
    assert "no program named '1877'" in line
    assert line.endswith("arguments for the program go after --: pyjos run primes -- 1877")


def test_bad_option_prints_the_subcommands_usage(capsys):
    code, _out, err = run(capsys, "run", "--bogus", "hello")
    assert code == 2
    assert err.startswith("usage: pyjos run ")
    assert "pyjos run: error: unrecognized arguments: --bogus" in err


@pytest.mark.parametrize("argv,refused", [
    (["bench", "syscall", "--csv", "F", "--strategy", "cow"], "--strategy"),
    (["bench", "ipc", "--pages", "1"], "--pages"),
    (["bench", "--seed", "3"], "--seed"),
    (["bench", "fault", "--plot", "x.png"], "--plot"),
    (["bench", "fork", "--iterations", "5"], "--iterations"),
    (["bench", "programs", "--iterations", "5"], "--iterations"),
])
def test_options_a_benchmark_would_ignore_are_refused(capsys, argv, refused):
    code, out, err = run(capsys, *argv)
    assert code == cli.EXIT_ERROR and out == ""
    assert one_line_error(err).startswith(f"pyjos: {refused} applies to ")


@pytest.mark.parametrize("cache", ["/proc/nope", "/dev/null/x"])
def test_unusable_build_cache_is_one_line(capsys, monkeypatch, cache):
    monkeypatch.setenv("PYJOS_CACHE", cache)
    code, out, err = run(capsys, "run", "hello")
    assert code == cli.EXIT_ERROR and out == ""
    assert one_line_error(err).startswith(f"pyjos: build cache {cache} (PYJOS_CACHE): ")


def test_plot_without_matplotlib_says_how_to_get_it(capsys, monkeypatch, tmp_path):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "matplotlib" else real(name, *a))
    code, out, err = run(capsys, "bench", "fork", "--plot", str(tmp_path / "p.png"))
    assert code == cli.EXIT_ERROR and out == ""
    assert "--plot needs matplotlib: python3 -m pip install matplotlib" in one_line_error(err)


def test_fuzz_cli_small_run(capsys):
    code, out, err = run(capsys, "fuzz", "--seed", "7", "--calls", "3000", "--envs", "2")
    assert code == cli.EXIT_OK, out + err
    assert "# pyjos fuzz: seed 7, calls 3,000, envs 2 + bystander" in out
    assert "calls/s), run ended idle, audit and bystander: ok" in out


def test_monitor_vm_columns_line_up():
    from pyjos.kernel import Kernel, KernelConfig

    out: list[str] = []
    kernel = Kernel(KernelConfig(monitor_input=["vm", "continue"]), out=out.append)
    kernel.create_env("breakpoint")
    kernel.run()
    lines = "".join(out).splitlines()
    header = next(i for i, line in enumerate(lines) if "also mapped by" in line)
    head, row = lines[header], lines[header + 1]
    assert head.index("va") == 2 and row[2:10].strip() == row[2:10]  # va: 8 hex digits
    for column in ("frame", "pp_ref"):  # right-aligned columns
        end = head.index(column) + len(column)
        assert row[end - 1] != " " and row[end] == " ", (column, head, row)
    for column in ("perm", "also mapped by"):  # left-aligned columns
        start = head.index(column)
        assert row[start - 1] == " " and row[start] != " ", (column, head, row)
