"""Guest toolchain: build i386 user programs (freestanding C) into cached ELF files.

The guest tree (GUEST_DIR) holds headers in inc/, the user library in lib/
(lib/entry.S is linked first and kept out of the archive), one program per
file in user/NAME.c and the linker script user.ld.

Cache layout, under cache_dir():
    lib/<hash>/entry.o, libjos.a    the user library, built once per library hash
    bin/<name>-<hash>               linked programs
    host/<name>-<hash>.so           host (x86-64) helper libraries
Each entry is built under a temporary name and published with os.replace, so
concurrent builders never see a partial file.

Programs link entry.o, the program, then the archive, with
--allow-multiple-definition: the first definition of a symbol wins, so a
program that defines a library function (its own fork, ipc_send or pgfault
handler) runs its own, as when linking against a static archive of one
function per member.

build_jos_program builds against a student's JOS tree instead (its inc/,
lib/ and user/), adding only pyjos's linker script, the 64-bit division
helpers (JOS gets them from libgcc) and, when asked, the fork-strategy
variable that `--fork` sets.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

from .elf import ElfError, parse_elf

GUEST_DIR = Path(__file__).parent

CFLAGS: tuple[str, ...] = (
    "-ffreestanding", "-fno-builtin", "-nostdinc", "-nostdlib",
    "-fno-pic", "-fno-pie", "-fno-stack-protector", "-fno-omit-frame-pointer",
    "-fno-delete-null-pointer-checks",
    "-fno-asynchronous-unwind-tables", "-fno-unwind-tables",
    "-mno-sse", "-mno-sse2", "-mno-mmx",
    "-O1", "-g", "-Wall", "-Wno-format", "-Wno-unused",
    # Keep divisions that may trap: without it gcc turns JOS divzero's 1/zero
    # into compares that yield 0 (and "1/0 is 00000000!" is printed).
    "-fnon-call-exceptions",
    "-DJOS_USER",  # as JOS's USER_CFLAGS: its inc/memlayout.h declares uvpt, uvpd only then
)  # the target flags (-m32 or -target ...) are part of Toolchain.cc
LDFLAGS: tuple[str, ...] = ("-nostdlib", "--allow-multiple-definition")  # the emulation (-m elf_i386) is part of Toolchain.ld
HOST_CFLAGS: tuple[str, ...] = ("-O2", "-shared", "-fPIC")
HOST_PROGRAM_CFLAGS: tuple[str, ...] = ("-O2",)

LIB_ENTRY = "entry.o"
LIB_ARCHIVE = "libjos.a"
STDERR_LINES = 30

GCC_TOOLS = ("gcc", "ld", "ar")
GCC_HINT = "install gcc and binutils with i386 support (e.g. apt-get install gcc binutils)"
ZIG_HINT = "`pip install ziglang`"
_PROBE_SOURCE = "void _start(void) { for (;;) ; }\n"
_HOST_PROBE_SOURCE = "int pyjos_probe(void) { return 0; }\n"


class BuildError(Exception):
    """A guest build failed; the message is one line, plus trimmed compiler output if any."""


class ProgramNotFound(BuildError):
    """The program named by the user is neither bundled nor an existing file."""


@dataclass(frozen=True)
class Toolchain:
    """Commands that turn freestanding C and assembly into i386 ELF executables.

    Each command is a prefix that already carries its target selection; `identity`
    (compiler path and --version output) is part of every cache key.
    """

    kind: str  # "gcc" or "zig"
    cc: tuple[str, ...]
    ld: tuple[str, ...]
    ar: tuple[str, ...]
    identity: str = ""


# --- Programs ----------------------------------------------------------------

def list_programs(*, guest_dir: Path = GUEST_DIR) -> list[tuple[str, str]]:
    """Return the bundled programs as sorted (name, description) pairs.

    The description is the text of the `// ...` comment on a program's first
    line, or "" if the first line is not such a comment.
    """
    return [(src.stem, _description(src)) for src in sorted((guest_dir / "user").glob("*.c"))]


def _description(source: Path) -> str:
    with source.open(encoding="utf-8", errors="replace") as f:
        first = f.readline().strip()
    return first[2:].strip() if first.startswith("//") else ""


def resolve_program(spec: str, *, guest_dir: Path = GUEST_DIR) -> tuple[str, Path]:
    """Return (name, source path) for a bundled program name or a path to a .c file.

    `spec` is a path if it ends in ".c" or contains a path separator; its name
    is then the file's stem.  Raises ProgramNotFound if there is no such program
    or file, BuildError if a path does not name a .c file.
    """
    if spec.endswith(".c") or "/" in spec or os.sep in spec:
        source = Path(spec).expanduser()
        if not source.is_file():
            raise ProgramNotFound(f"no program file {spec} (run `pyjos list` to see the bundled programs)")
        if source.suffix != ".c":
            raise BuildError(f"{spec} is not a C source file (a program file must end in .c)")
        return source.stem, source.resolve()
    source = guest_dir / "user" / f"{spec}.c"
    if not source.is_file():
        raise ProgramNotFound(f"no program named {spec!r} (run `pyjos list` to see the bundled programs)")
    return spec, source


def build_program(spec: str, *, guest_dir: Path = GUEST_DIR) -> Path:
    """Return the path of the linked i386 ELF for `spec` (see resolve_program).

    The result is cached under cache_dir() by a hash of the toolchain, the
    flags, every file of inc/ and lib/, user.ld, the program source and the
    *.h files beside it; a cached program is returned without running any tool.
    Raises ProgramNotFound, or BuildError if no toolchain works or the build fails.
    """
    name, source = resolve_program(spec, guest_dir=guest_dir)
    return _build(name, source, guest_dir, guest_dir / "user.ld")


def build_jos_program(spec: str, jos: Path, *, fork_symbol: bool = False) -> Path:
    """Return the linked ELF of program `spec` of the JOS tree `jos`.

    `spec` names jos/user/SPEC.c (or is a path to a .c file); the program is
    built with jos/inc and linked with every source of jos/lib (entry.S
    first), plus pyjos's 64-bit division helpers and linker script, and with
    fork_symbol, a default `int pyjos_fork_strategy` for the loader to set
    (`--fork`; the tree's own definition, if any, wins).  Raises
    ProgramNotFound or BuildError with one line naming what the tree lacks.
    """
    root = jos_tree(jos)
    if spec.endswith(".c") or "/" in spec or os.sep in spec:
        name, source = resolve_program(spec, guest_dir=root)
    else:
        name, source = spec, root / "user" / f"{spec}.c"
        if not source.is_file():
            raise ProgramNotFound(f"no program {spec!r} in the JOS tree: {source} is missing")
    objects = (GUEST_DIR / "jos" / "fork_strategy.c",) if fork_symbol else ()
    return _build(name, source, root, GUEST_DIR / "user.ld", (GUEST_DIR / "lib" / "divdi3.c",), objects)


def jos_tree(jos: Path) -> Path:
    """The resolved root of a JOS tree, after checking it has inc/, lib/ and lib/entry.S.

    Raises BuildError naming the first thing missing.
    """
    root = Path(jos).expanduser()
    if not root.is_dir():
        raise BuildError(f"JOS tree {jos} is not a directory")
    for sub in ("inc", "lib"):
        if not (root / sub).is_dir():
            raise BuildError(f"JOS tree {jos} has no {sub}/ directory ({root / sub} is missing)")
    _require(root / "lib" / "entry.S", f"JOS tree {jos} is incomplete: the library entry point")
    return root.resolve()


def _build(name: str, source: Path, root: Path, script: Path, extras: Sequence[Path] = (),
           objects: Sequence[Path] = ()) -> Path:
    """Compile and link program `name` from `source` with the tree `root`'s
    headers and library (plus pyjos's `extras` in it) and the linker script
    `script`, linking the pyjos sources `objects` in whole; cached (see
    build_program)."""
    tc = toolchain()
    lib_key, lib = _library(tc, root, extras)
    script = _require(script, "guest linker script")
    cflags = [*_guest_cflags(tc, root), "-I", str(source.parent)]
    if not source.is_relative_to(root):
        cflags.append(f"-fmacro-prefix-map={source.parent}/=")
    link = [*tc.ld, *LDFLAGS, "-T", str(script)]
    headers = sorted(p for p in source.parent.glob("*.h") if p.is_file())
    key = _digest(["program", lib_key, *cflags, *link], [script, source, *headers, *objects])
    out = cache_dir() / "bin" / f"{name}-{key}"
    if out.is_file():
        return out
    own = _guest_cflags(tc, GUEST_DIR)
    with _staging(out.parent) as tmp:
        _compile(cflags, source, tmp / "prog.o", name)
        objs = [tmp / f"pyjos-{obj.stem}.o" for obj in objects]
        for obj, src in zip(objs, objects, strict=True):
            _compile(own, src, obj, f"pyjos ({src.name})")
        _run([*link, "-o", tmp / "prog", lib / LIB_ENTRY, tmp / "prog.o", *objs,
              lib / LIB_ARCHIVE], name)
        os.replace(tmp / "prog", out)
    return out


def _library(tc: Toolchain, root: Path, extras: Sequence[Path] = ()) -> tuple[str, Path]:
    """Return the hash and cache directory of the user library, building it if absent.

    The directory holds entry.o (from root/lib/entry.S) and libjos.a (every
    other lib/*.c and lib/*.S, then pyjos's `extras`, built with pyjos's own
    headers); each source is compiled once per library hash.
    """
    cflags = _guest_cflags(tc, root)
    own = _guest_cflags(tc, GUEST_DIR)
    lib_dir = root / "lib"
    key = _digest(["libjos", tc.identity, *cflags, *tc.ar],
                  [*_tree(root / "inc"), *_tree(lib_dir), *extras])
    final = cache_dir() / "lib" / key
    if (final / LIB_ARCHIVE).is_file():
        return key, final
    entry = _require(lib_dir / "entry.S", "guest library entry point")
    sources = sorted(p for p in [*lib_dir.glob("*.c"), *lib_dir.glob("*.S")] if p != entry)
    with _staging(final.parent) as tmp:
        jobs = [(cflags, entry, tmp / LIB_ENTRY, f"libjos ({entry.name})"),
                *((cflags, src, tmp / f"{src.name}.o", f"libjos ({src.name})") for src in sources),
                *((own, src, tmp / f"pyjos-{src.name}.o", f"pyjos ({src.name})") for src in extras)]
        with ThreadPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
            list(pool.map(lambda job: _compile(*job), jobs))
        _run([*tc.ar, "rcs", tmp / LIB_ARCHIVE, *(job[2] for job in jobs[1:])], "libjos")
        _publish_dir(tmp, final)
    return key, final


def _compile(cflags: Sequence[str], source: Path, obj: Path, what: str) -> None:
    _run([*cflags, "-c", "-o", obj, source], what)


def _guest_cflags(tc: Toolchain, guest_dir: Path) -> list[str]:
    # __FILE__ relative to the guest tree (panics say lib/ipc.c, as in JOS).
    return [*tc.cc, *CFLAGS, "-I", str(guest_dir), f"-fmacro-prefix-map={guest_dir}/="]


def _require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise BuildError(f"{what} {path} is missing")
    return path


# --- Toolchain detection -----------------------------------------------------

@functools.cache
def toolchain() -> Toolchain:
    """Return a working i386 toolchain, detected once per process.

    Tries gcc + binutils, then the PyPI `ziglang` package; PYJOS_TOOLCHAIN=gcc
    or =zig forces one.  Raises BuildError naming what to install if none works.
    """
    forced = os.environ.get("PYJOS_TOOLCHAIN", "")
    candidates = {"gcc": _gcc, "zig": _zig}
    if forced and forced not in candidates:
        raise BuildError(f"PYJOS_TOOLCHAIN={forced!r} is not one of: gcc, zig")
    kinds = [forced] if forced else list(candidates)
    failures = []
    for kind in kinds:
        try:
            return _probe(candidates[kind]())
        except BuildError as e:
            failures.append(f"{kind}: {_summary(e)}")
    hints = " or ".join(GCC_HINT if kind == "gcc" else ZIG_HINT for kind in kinds)
    raise BuildError(f"no working i386 toolchain ({'; '.join(failures)}): {hints}")


def _gcc() -> Toolchain:
    gcc, ld, ar = (shutil.which(tool) for tool in GCC_TOOLS)
    if gcc is None or ld is None or ar is None:
        missing = [tool for tool, path in zip(GCC_TOOLS, (gcc, ld, ar), strict=True) if path is None]
        raise BuildError(f"{', '.join(missing)} not found on PATH")
    return Toolchain("gcc", cc=(gcc, "-m32"), ld=(ld, "-m", "elf_i386"), ar=(ar,))


def _zig() -> Toolchain:
    if importlib.util.find_spec("ziglang") is None:
        raise BuildError("the Python package ziglang is not installed")
    zig = (sys.executable, "-m", "ziglang")
    return Toolchain(
        "zig",
        cc=(*zig, "cc", "-target", "x86-freestanding-none", "-mcpu=i686"),
        ld=(*zig, "ld.lld", "-m", "elf_i386"),
        ar=(*zig, "ar"),
    )


def _probe(tc: Toolchain) -> Toolchain:
    """Return tc with its identity set, after checking it compiles, links and archives i386 code."""
    version = _run([*tc.cc, "--version"], f"{tc.kind} --version")
    with tempfile.TemporaryDirectory(prefix="pyjos-probe-") as name:
        tmp = Path(name)
        (tmp / "probe.c").write_text(_PROBE_SOURCE)
        _run([*tc.cc, *CFLAGS, "-c", "-o", tmp / "probe.o", tmp / "probe.c"], "a probe program")
        _run([*tc.ld, *LDFLAGS, "-e", "_start", "-o", tmp / "probe", tmp / "probe.o"], "a probe program")
        _run([*tc.ar, "rcs", tmp / "probe.a", tmp / "probe.o"], "a probe archive")
        try:
            parse_elf((tmp / "probe").read_bytes())
        except ElfError as e:
            raise BuildError(f"the probe program is not a valid i386 executable: {e}") from None
    return replace(tc, identity=f"{tc.cc[0]}\n{version}")


def _summary(error: BuildError) -> str:
    """The first two lines of a BuildError's message, joined into one."""
    return " ".join(line.strip() for line in str(error).splitlines()[:2])


# --- Host helper libraries ---------------------------------------------------

def build_host_library(name: str, source: Path) -> Path | None:
    """Return a cached host shared object built from C `source` with `gcc -O2 -shared -fPIC`.

    Returns None if no host C compiler works (the caller then does without);
    raises BuildError if a working compiler rejects `source`.
    """
    return _build_host(name, source, HOST_CFLAGS, ".so")


def build_host_program(name: str, source: Path) -> Path | None:
    """Return a cached host executable built from C `source` with `gcc -O2`.

    Returns None if no host C compiler works; raises BuildError if a working
    compiler rejects `source`.
    """
    return _build_host(name, source, HOST_PROGRAM_CFLAGS, "")


@functools.cache
def _host_compiler() -> tuple[str, str] | None:
    """(path, --version output) of the host C compiler, found once per process."""
    cc = shutil.which("gcc") or shutil.which("cc")
    if cc is None:
        return None
    try:
        return cc, _run([cc, "--version"], "host compiler --version")
    except BuildError:
        return None


def _build_host(name: str, source: Path, cflags: Sequence[str], suffix: str) -> Path | None:
    compiler = _host_compiler()
    if compiler is None:
        return None
    cc, version = compiler
    key = _digest(["host", cc, version, *cflags], [source])
    out = cache_dir() / "host" / f"{name}-{key}{suffix}"
    if out.is_file():
        return out
    with _staging(out.parent) as tmp:
        (tmp / "probe.c").write_text(_HOST_PROBE_SOURCE)
        try:
            _run([cc, *HOST_CFLAGS, "-o", tmp / "probe.so", tmp / "probe.c"], "a host probe")
        except BuildError:
            return None
        _run([cc, *cflags, "-o", tmp / "out", source], name)
        os.replace(tmp / "out", out)
    return out


# --- Cache and process helpers -----------------------------------------------

def cache_dir() -> Path:
    """The build cache: $PYJOS_CACHE, else $XDG_CACHE_HOME/pyjos, else ~/.cache/pyjos."""
    if explicit := os.environ.get("PYJOS_CACHE"):
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pyjos"


def _tree(root: Path) -> list[Path]:
    """Every regular file under root, sorted (empty if root does not exist)."""
    return sorted(p for p in root.rglob("*") if p.is_file())


def _digest(texts: Iterable[str], files: Iterable[Path]) -> str:
    """A short hex hash of the texts and of each file's path and bytes."""
    h = hashlib.sha256()
    for text in texts:
        h.update(text.encode() + b"\0")
    for path in files:
        data = path.read_bytes()
        h.update(f"{path}\0{len(data)}\0".encode())
        h.update(data)
    return h.hexdigest()[:24]


@contextlib.contextmanager
def _staging(parent: Path) -> Iterator[Path]:
    """A fresh temporary directory inside parent, removed afterwards unless it was moved away."""
    parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=parent, prefix=".tmp-", ignore_cleanup_errors=True) as name:
        yield Path(name)


def _publish_dir(tmp: Path, final: Path) -> None:
    """Atomically rename tmp to final; if another process got there first, keep theirs."""
    try:
        os.replace(tmp, final)
    except OSError:
        if not final.is_dir():
            raise


def _run(cmd: Sequence[str | Path], what: str) -> str:
    """Run a tool and return its stdout.

    Raises BuildError("build of WHAT failed:" + the first lines of the tool's
    messages) if it cannot be started or exits non-zero.
    """
    argv = [str(arg) for arg in cmd]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, errors="replace")
    except OSError as e:
        raise BuildError(f"build of {what} failed: cannot run {argv[0]}: {e.strerror}") from None
    if proc.returncode != 0:
        raise BuildError(f"build of {what} failed:\n{_trim(proc.stderr or proc.stdout)}")
    return proc.stdout


def _trim(output: str) -> str:
    lines = output.rstrip().splitlines()
    if len(lines) > STDERR_LINES:
        lines = [*lines[:STDERR_LINES], f"... ({len(lines) - STDERR_LINES} more lines)"]
    return "\n".join(lines)
