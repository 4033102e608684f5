"""README.md stays true: its commands, its example program, its options."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pyjos.tools.cli import make_parser

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def _blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, re.S)


def test_readme_opens_with_the_two_commands():
    install, tests = _blocks("sh")[:2]
    assert install.strip() == "python3 -m pip install -e . && pyjos run hello"
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests.strip() in ci.splitlines(), "the README's test command must be what .ci/run runs"


def test_ci_runs_the_slow_tests_after_the_suite():
    lines = (ROOT / ".ci" / "run").read_text().splitlines()
    (tests,) = [i for i, line in enumerate(lines) if line == _blocks("sh")[1].strip()]
    assert "python3 -m pytest -q -m slow" in lines[tests + 1:], "the default suite leaves them out"


def test_readme_example_program_runs(tmp_path, run_programs):
    (source,) = _blocks("c")
    prog = tmp_path / "myprog.c"
    prog.write_text(source)
    text, _k, result = run_programs([str(prog)])
    assert result.reason == "idle"
    assert "i am 00001000, argv[0] = myprog\n" in text


def test_readme_run_options_exist(capsys):
    with pytest.raises(SystemExit):
        make_parser().parse_args(["run", "--help"])  # prints run's usage and options
    flags = set(re.findall(r"--[a-z-]+", capsys.readouterr().out))
    for flag in re.findall(r"`(--[a-z-]+)", README.split("## Benchmarks")[0]):
        assert flag in flags, f"README documents {flag}, which `pyjos run` lacks"


def test_readme_console_examples_parse():
    parser = make_parser()
    for block in _blocks("console"):
        for line in block.splitlines():
            if not line.startswith("$ pyjos "):
                continue
            argv = line[len("$ pyjos "):].split("#")[0].replace("[", "").replace("]", "").split()
            if "--" in argv:
                argv = argv[:argv.index("--")]
            parser.parse_args(argv)  # exits (SystemExit) on a documented-but-wrong call


def test_version_flag():
    out = subprocess.run([sys.executable, "-m", "pyjos", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("pyjos ")
