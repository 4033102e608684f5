"""Tests of the guest toolchain (pyjos.guest.build) against a tiny fake guest tree."""

from __future__ import annotations

import ctypes
import importlib.util
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from pyjos.guest import build
from pyjos.guest.build import (
    BuildError,
    ProgramNotFound,
    build_host_library,
    build_program,
    list_programs,
    resolve_program,
    toolchain,
)
from pyjos.guest.elf import parse_elf, symbols

ZIGLANG_INSTALLED = importlib.util.find_spec("ziglang") is not None

FAKE_GUEST = {
    "inc/lib.h": """\
        #ifndef INC_LIB_H
        #define INC_LIB_H
        #define ANSWER 42
        int answer(void);
        void umain(int argc, char **argv);
        #endif
        """,
    "lib/entry.S": """\
        .text
        .globl _start
        _start:
            call umain
        1:  jmp 1b
        .section .note.GNU-stack,"",@progbits
        """,
    "lib/answer.c": """\
        #include <inc/lib.h>
        int answer(void) { return ANSWER; }
        """,
    "user.ld": """\
        ENTRY(_start)
        SECTIONS
        {
            . = 0x800020;
            .text : { *(.text .text.*) }
            .rodata : { *(.rodata .rodata.*) }
            . = ALIGN(0x1000);
            .data : { *(.data .data.*) }
            .bss : { *(.bss .bss.*) }
            /DISCARD/ : { *(.eh_frame .note.GNU-stack .comment .note.gnu.property) }
        }
        """,
    "user/hello.c": """\
        // returns the answer
        #include <inc/lib.h>
        int result;
        void umain(int argc, char **argv) { result = answer(); }
        """,
    "user/quiet.c": """\
        #include <inc/lib.h>
        void umain(int argc, char **argv) { }
        """,
}


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


@pytest.fixture
def guest(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "guest", FAKE_GUEST)


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PYJOS_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def fresh_toolchain() -> Iterator[None]:
    """Forget the detected guest toolchain before and after a test that changes
    the environment."""
    toolchain.cache_clear()
    yield
    toolchain.cache_clear()


@pytest.fixture
def i386() -> build.Toolchain:
    try:
        return toolchain()
    except BuildError as e:
        pytest.skip(str(e))


@pytest.fixture
def runs(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Record the argv of every subprocess.run call (the tools still run)."""
    calls: list[list[str]] = []
    real_run = subprocess.run

    def counting_run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(argv)
        return real_run(argv, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(subprocess, "run", counting_run)
    return calls


# --- Listing and resolving -----------------------------------------------------

def test_list_programs_sorted_with_descriptions(guest: Path) -> None:
    assert list_programs(guest_dir=guest) == [("hello", "returns the answer"), ("quiet", "")]


def test_resolve_bundled_program(guest: Path) -> None:
    assert resolve_program("hello", guest_dir=guest) == ("hello", guest / "user" / "hello.c")


def test_resolve_user_file_by_path(tmp_path: Path, guest: Path) -> None:
    source = write_tree(tmp_path / "mine", {"prog.c": "// mine\n"}) / "prog.c"
    assert resolve_program(str(source), guest_dir=guest) == ("prog", source.resolve())


@pytest.mark.parametrize("spec, named", [("nosuch", "'nosuch'"), ("elsewhere/nosuch.c", "elsewhere/nosuch.c")])
def test_unknown_program(guest: Path, spec: str, named: str) -> None:
    with pytest.raises(ProgramNotFound) as info:
        resolve_program(spec, guest_dir=guest)
    assert named in str(info.value)
    assert "pyjos list" in str(info.value)


def test_unknown_program_from_build(guest: Path) -> None:
    with pytest.raises(ProgramNotFound, match="pyjos list"):
        build_program("nosuch", guest_dir=guest)


def test_path_that_is_not_c_source(tmp_path: Path, guest: Path) -> None:
    script = write_tree(tmp_path, {"dir/prog.txt": "x"}) / "dir" / "prog.txt"
    with pytest.raises(BuildError, match="must end in .c"):
        resolve_program(str(script), guest_dir=guest)


# --- Building ------------------------------------------------------------------

def test_build_produces_i386_elf_at_utext(guest: Path, i386: build.Toolchain) -> None:
    data = build_program("hello", guest_dir=guest).read_bytes()
    assert data[:5] == b"\x7fELF\x01"  # ELFCLASS32
    image = parse_elf(data)
    assert image.entry == 0x800020
    names = {name for _, _, name in symbols(data)}
    assert {"umain", "answer"} <= names


def test_second_build_runs_no_tool(guest: Path, i386: build.Toolchain, runs: list[list[str]]) -> None:
    first = build_program("hello", guest_dir=guest)
    assert len(runs) == 5  # entry.S, answer.c, ar, hello.c, link
    runs.clear()
    assert build_program("hello", guest_dir=guest) == first
    assert runs == []


def test_library_is_shared_between_programs(guest: Path, i386: build.Toolchain, runs: list[list[str]]) -> None:
    build_program("hello", guest_dir=guest)
    runs.clear()
    build_program("quiet", guest_dir=guest)
    assert len(runs) == 2  # quiet.c and the link only
    assert str(guest / "user" / "quiet.c") in runs[0]


def test_cache_survives_a_new_process(guest: Path, i386: build.Toolchain) -> None:
    first = build_program("hello", guest_dir=guest)
    stamp = first.stat().st_mtime_ns
    code = "import sys; from pathlib import Path; from pyjos.guest.build import build_program; " \
           "print(build_program('hello', guest_dir=Path(sys.argv[1])))"
    proc = subprocess.run([sys.executable, "-c", code, str(guest)], capture_output=True, text=True, check=True)
    assert Path(proc.stdout.strip()) == first
    assert first.stat().st_mtime_ns == stamp


def test_concurrent_builds_share_one_result(guest: Path, cache: Path, i386: build.Toolchain) -> None:
    code = "import sys; from pathlib import Path; from pyjos.guest.build import build_program; " \
           "print(build_program('hello', guest_dir=Path(sys.argv[1])))"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(guest)], stdout=subprocess.PIPE, text=True)
             for _ in range(4)]
    outputs = {proc.communicate()[0].strip() for proc in procs}
    assert [proc.returncode for proc in procs] == [0] * 4
    assert outputs == {str(build_program("hello", guest_dir=guest))}
    assert parse_elf(Path(outputs.pop()).read_bytes()).entry == 0x800020
    assert list(cache.rglob(".tmp-*")) == []


def test_library_header_change_invalidates(guest: Path, i386: build.Toolchain, runs: list[list[str]]) -> None:
    first = build_program("hello", guest_dir=guest)
    header = guest / "inc" / "lib.h"
    header.write_text(header.read_text().replace("ANSWER 42", "ANSWER 43"))
    runs.clear()
    second = build_program("hello", guest_dir=guest)
    assert second != first
    assert any(str(guest / "lib" / "answer.c") in argv for argv in runs)


def test_linker_script_change_invalidates(guest: Path, i386: build.Toolchain) -> None:
    first = build_program("hello", guest_dir=guest)
    script = guest / "user.ld"
    script.write_text(script.read_text().replace("0x800020", "0x900020"))
    second = build_program("hello", guest_dir=guest)
    assert second != first
    assert parse_elf(second.read_bytes()).entry == 0x900020


def test_compile_error_reports_compiler_message(guest: Path, i386: build.Toolchain) -> None:
    write_tree(guest, {"user/broken.c": "// does not compile\nvoid umain(int argc, char **argv) { nosuch(; }\n"})
    with pytest.raises(BuildError) as info:
        build_program("broken", guest_dir=guest)
    message = str(info.value)
    assert message.startswith("build of broken failed:\n")
    assert "broken.c" in message and "error" in message


def test_link_error_names_the_program(guest: Path, i386: build.Toolchain) -> None:
    write_tree(guest, {"user/unlinked.c": "void missing(void);\nvoid umain(int c, char **v) { missing(); }\n"})
    with pytest.raises(BuildError, match=r"(?s)^build of unlinked failed:\n.*missing"):
        build_program("unlinked", guest_dir=guest)


def test_library_without_entry_is_an_error(guest: Path, i386: build.Toolchain) -> None:
    (guest / "lib" / "entry.S").unlink()
    with pytest.raises(BuildError, match="entry point .*entry.S is missing"):
        build_program("hello", guest_dir=guest)


def test_user_file_outside_the_tree(tmp_path: Path, guest: Path, i386: build.Toolchain) -> None:
    mine = write_tree(tmp_path / "mine", {
        "local.h": "#define LOCAL 7\n",
        "mine.c": '// mine\n#include <inc/lib.h>\n#include "local.h"\n'
                  "int x;\nvoid umain(int argc, char **argv) { x = LOCAL + answer(); }\n",
    })
    first = build_program(str(mine / "mine.c"), guest_dir=guest)
    assert first.name.startswith("mine-")
    assert parse_elf(first.read_bytes()).entry == 0x800020
    (mine / "local.h").write_text("#define LOCAL 8\n")
    assert build_program(str(mine / "mine.c"), guest_dir=guest) != first


# --- Toolchain selection -------------------------------------------------------

@pytest.mark.skipif(ZIGLANG_INSTALLED, reason="ziglang is installed")
def test_forced_zig_without_ziglang(monkeypatch: pytest.MonkeyPatch, fresh_toolchain: None) -> None:
    monkeypatch.setenv("PYJOS_TOOLCHAIN", "zig")
    with pytest.raises(BuildError) as info:
        toolchain()
    message = str(info.value)
    assert "ziglang is not installed" in message and "`pip install ziglang`" in message
    assert "\n" not in message


@pytest.mark.skipif(ZIGLANG_INSTALLED, reason="ziglang is installed")
def test_no_toolchain_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_toolchain: None
) -> None:
    monkeypatch.delenv("PYJOS_TOOLCHAIN", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BuildError) as info:
        toolchain()
    assert str(info.value) == (
        "no working i386 toolchain (gcc: gcc, ld, ar not found on PATH; "
        "zig: the Python package ziglang is not installed): "
        "install gcc and binutils with i386 support (e.g. apt-get install gcc binutils) or `pip install ziglang`"
    )


def test_forced_gcc_failure_names_only_gcc(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_toolchain: None
) -> None:
    monkeypatch.setenv("PYJOS_TOOLCHAIN", "gcc")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(BuildError, match=r"\(gcc: .*\): install gcc and binutils .*binutils\)$"):
        toolchain()


def test_unknown_forced_toolchain(monkeypatch: pytest.MonkeyPatch, fresh_toolchain: None) -> None:
    monkeypatch.setenv("PYJOS_TOOLCHAIN", "tcc")
    with pytest.raises(BuildError, match="PYJOS_TOOLCHAIN='tcc' is not one of: gcc, zig"):
        toolchain()


def test_forced_toolchain_is_used(monkeypatch: pytest.MonkeyPatch, fresh_toolchain: None) -> None:
    kind = "zig" if ZIGLANG_INSTALLED else "gcc"
    monkeypatch.setenv("PYJOS_TOOLCHAIN", kind)
    try:
        tc = toolchain()
    except BuildError as e:
        pytest.skip(str(e))
    assert tc.kind == kind and tc.identity


# --- Cache location and host libraries -------------------------------------------

def test_cache_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYJOS_CACHE", str(tmp_path / "explicit"))
    assert build.cache_dir() == tmp_path / "explicit"
    monkeypatch.delenv("PYJOS_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert build.cache_dir() == tmp_path / "xdg" / "pyjos"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert build.cache_dir() == tmp_path / "home" / ".cache" / "pyjos"


@pytest.fixture
def host_source(tmp_path: Path) -> Path:
    return write_tree(tmp_path / "host", {"add.c": "int add(int a, int b) { return a + b; }\n"}) / "add.c"


def test_host_library_builds_and_loads(host_source: Path, runs: list[list[str]]) -> None:
    path = build_host_library("add", host_source)
    if path is None:
        pytest.skip("no host C compiler")
    assert ctypes.CDLL(str(path)).add(2, 3) == 5
    runs.clear()
    assert build_host_library("add", host_source) == path
    assert runs == []  # cached: no tool runs, not even the compiler's --version


def test_host_library_without_compiler(tmp_path: Path, host_source: Path) -> None:
    """No C compiler on PATH: None.  In a new process, as the compiler is found once
    per process."""
    code = "import sys; from pathlib import Path; from pyjos.guest.build import build_host_library; " \
           "print(build_host_library('add', Path(sys.argv[1])) is None)"
    env = {**os.environ, "PATH": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", code, str(host_source)], env=env,
                          capture_output=True, text=True, check=True)
    assert proc.stdout == "True\n", proc.stdout


def test_host_library_compile_error(tmp_path: Path) -> None:
    if build_host_library("ok", write_tree(tmp_path, {"ok.c": "int ok;\n"}) / "ok.c") is None:
        pytest.skip("no host C compiler")
    broken = write_tree(tmp_path, {"broken.c": "int broken( {\n"}) / "broken.c"
    with pytest.raises(BuildError, match=r"^build of broken failed:\n"):
        build_host_library("broken", broken)


def test_no_partial_files_left_behind(guest: Path, cache: Path, i386: build.Toolchain) -> None:
    write_tree(guest, {"user/broken.c": "void umain(int argc, char **argv) { nosuch(; }\n"})
    build_program("hello", guest_dir=guest)
    with pytest.raises(BuildError):
        build_program("broken", guest_dir=guest)
    assert list(cache.rglob(".tmp-*")) == []
    assert os.listdir(cache / "bin") == [build_program("hello", guest_dir=guest).name]
