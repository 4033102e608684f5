"""The ``pyjos`` command line: run, list, bench, fuzz."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .. import __version__
from ..abi import FORK_KINDS, FORK_STRATEGIES, NCPU
from ..guest.build import BuildError, list_programs
from ..kernel import DEFAULT_MEM_MIB, DEFAULT_QUANTUM
from ..kernel.kernel import CONSOLES
from . import grade, observe, skeleton
from .args import MAX_COUNT, MAX_INSNS, MAX_QUANTUM, bounded, int_list, mib, names
from .costmodel import MODEL_NAMES
from ..guest.elf import ElfError
from .josfigures import JosFiguresError
from ..kernel.load import LoadError
from ..kernel.monitor import ON_BREAKPOINT
from ..machine import UNICORN_VERSION, MachineError

EXIT_OK = 0
EXIT_ERROR = 1  # unknown program, build error, bad ELF, bad setting
EXIT_PANIC = 3  # kernel panic (a kernel bug)
EXIT_LIMIT = 4  # --max-insns reached
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT)


def make_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="pyjos",
        description="A JOS-compatible exokernel in Python running real i386 user programs.")
    p.add_argument("--version", action="version",
                   version=f"pyjos {__version__} (unicorn {UNICORN_VERSION})")
    sub = p.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="boot the machine and run programs",
                         description="Run bundled programs (see `pyjos list`) or your own .c "
                                     "files, one env each; arguments after -- reach umain.")
    run.add_argument("programs", nargs="+", metavar="PROGRAM",
                     help="bundled program name or path to a .c file")
    run.add_argument("--mem", type=mib, default=DEFAULT_MEM_MIB, metavar="MIB",
                     help=f"physical memory in MiB, 4 to 1024 (default {DEFAULT_MEM_MIB})")
    run.add_argument("--quantum", type=bounded(1, MAX_QUANTUM), default=DEFAULT_QUANTUM,
                     metavar="N",
                     help="time slice before preemption, in guest basic blocks (instructions "
                          "where no host C compiler builds the native timer; 1 to "
                          f"{MAX_QUANTUM:,}; default {DEFAULT_QUANTUM})")
    run.add_argument("--max-insns", type=bounded(0, MAX_INSNS), default=0, metavar="N",
                     help="stop with exit status 4 once at least N guest instructions ran "
                          "(checked at each timer interrupt; 0 = no limit, at most 10^15)")
    run.add_argument("--cpus", type=bounded(1, NCPU), default=1, metavar="N",
                     help=f"emulated CPUs, 1 to {NCPU} (default 1), stepped in a fixed "
                          "round-robin of sub-slices: a run is exactly reproducible")
    run.add_argument("--seed", type=bounded(0, 2**63 - 1), default=None, metavar="S",
                     help="with --cpus above 1: draw every sub-slice length from "
                          "random.Random(S), another legal interleaving per seed, the same "
                          "one for the same seed (default: fixed sub-slices)")
    run.add_argument("--fork", choices=list(FORK_STRATEGIES), default=None,
                     help="what the library's fork() does in this run: "
                          + "; ".join(f"{name}: {what}" for name, what in FORK_STRATEGIES.items()))
    run.add_argument("--console", choices=list(CONSOLES), default="lab4",
                     help="which JOS kernel's console lines: "
                          + "; ".join(f"{name}: {what}" for name, what in CONSOLES.items()))
    run.add_argument("--on-breakpoint", choices=list(ON_BREAKPOINT), default="stop",
                     help="what a user int3 does: stop (the kernel monitor; without a "
                          "terminal the run stops there), destroy the env, or continue it "
                          "(default: stop)")
    run.add_argument("--cow-faults", choices=["user", "kernel"], default="user",
                     help="who resolves a write to a PTE_COW page: the env's page-fault "
                          "upcall (user, the exokernel way and the default) or the kernel "
                          "itself (kernel, as a monolithic kernel does)")
    run.add_argument("--jos", type=Path, metavar="DIR",
                     help="build each PROGRAM from your JOS tree: DIR/user/PROGRAM.c with "
                          "DIR/inc and DIR/lib (see `pyjos init`)")
    run.add_argument("--stats", action="store_true", help="print event counters after the run")
    run.add_argument("--stats-json", type=Path, metavar="FILE",
                     help="write event counters (global and per env) as JSON")
    run.add_argument("--model", type=names("cost model", MODEL_NAMES), default=None,
                     metavar="M[,M...]",
                     help="with --stats or --stats-json: what the run's counted events would "
                          "cost on each model's CPU, per event and in all: i386, p4, host "
                          "(calibrated on this machine; prices in costmodel.py)")
    run.add_argument("--gdb", nargs="?", const="127.0.0.1:1234", metavar="[HOST:]PORT",
                     help="boot stopped before the first user instruction and serve gdb's "
                          "remote protocol on HOST:PORT (default 127.0.0.1:1234; give it "
                          "after the programs or as --gdb=ADDR); envs are threads")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="do not echo the configuration line first")
    observe.add_options(run)

    sub.add_parser("list", help="list the bundled programs")
    grade.add_parser(sub)
    skeleton.add_parser(sub)

    bench = sub.add_parser("bench", help="measure the kernel",
                           description="Benchmarks; wall times are of pyjos on this machine, "
                                       "modelled cycles of real CPUs (see --model). "
                                       "With no benchmark named, runs the suite.")
    bench.add_argument("what", nargs="?",
                       choices=["floor", "syscall", "fault", "fork", "ipc", "programs"],
                       help="which benchmark (default: the whole suite, one table)")
    bench.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    bench.add_argument("--iterations", type=bounded(1, MAX_COUNT), default=None, metavar="N",
                       help="calls (syscall, default 200000), faults (fault, default 8192) "
                            "or messages (ipc, default 20000)")
    bench.add_argument("--repeat", type=bounded(1, 1000), default=3, metavar="R",
                       help="measurements; figures are the minimum or the median (default 3)")
    bench.add_argument("--strategy", type=names("strategy", FORK_KINDS), default=None,
                       metavar="S[,S...]",
                       help=f"fork strategies (fork; default {','.join(FORK_KINDS)})")
    bench.add_argument("--pages", type=int_list, default=None, metavar="N[,N...]",
                       help="extra mapped pages of the forking process, up to 131072 "
                            "(fork; default 0,16,64,256,1024,4096,16384,65536: several "
                            "minutes, most of it N=65536; each N is also measured natively)")
    bench.add_argument("--forks", type=bounded(1, 10_000), default=None, metavar="F",
                       help="forks per measurement (fork; default 5)")
    bench.add_argument("--model", type=names("cost model", MODEL_NAMES), default=None,
                       metavar="M[,M...]",
                       help="cost models for modelled cycles: i386, p4, host (calibrated on "
                            "this machine) (fork: default all three; the others: i386,p4)")
    bench.add_argument("--cow-faults", choices=["user", "kernel"], default=None,
                       help="who resolves copy-on-write faults (fork; default user)")
    bench.add_argument("--seed", type=bounded(0, 2**32 - 1), default=None,
                       help="seed of the order in which the fork cases are measured (default 0)")
    bench.add_argument("--cpus", type=names_of_cpus(), default=None, metavar="N[,N...]",
                       help=f"CPU counts to run each program with, 1 to {NCPU} (programs; "
                            "default 1): the runs of one repeat are back to back, and each "
                            "count's time is also given as a ratio to the first's")
    bench.add_argument("--jos-figures", type=Path, metavar="FILE",
                       help="your own measured JOS figures (JSON) to show beside the suite's; "
                            "format and how to measure: docs/how-much-faster.md")
    bench.add_argument("--csv", type=Path, metavar="FILE", help="write the fork rows as CSV")
    bench.add_argument("--plot", type=Path, metavar="FILE.png",
                       help="plot speedup over cow fork and cost per fork cycle (with "
                            "native) against N (fork; needs matplotlib)")

    fuzz = sub.add_parser("fuzz", help="fuzz the kernel with random system calls",
                          description="Several envs issue random system calls and batches "
                                      "with edge-value arguments, fork, fault and pass pages "
                                      "while a bystander env checks its own memory and "
                                      "registers; then the kernel audits its memory.  Exit "
                                      "status 0 only if nothing broke; the same seed gives "
                                      "the same run.")
    fuzz.add_argument("--seed", type=bounded(0, 2**31 - 1), default=0,
                      help="seed of the guest's random numbers (default 0)")
    fuzz.add_argument("--calls", type=bounded(1, MAX_COUNT), default=200_000, metavar="N",
                      help="system calls to make, batched calls included (default 200000)")
    fuzz.add_argument("--envs", type=bounded(1, 16), default=3, metavar="E",
                      help="fuzzing envs besides the bystander (default 3)")
    fuzz.add_argument("--fork", choices=list(FORK_STRATEGIES), default=None,
                      help="what the fuzzers' fork() does (default cow)")
    fuzz.add_argument("-v", "--verbose", action="store_true",
                      help="echo the console (thousands of env lines)")
    return p


# Options of `bench` that only `bench fork`, or only the counted benchmarks, use.
_FORK_ONLY = ("strategy", "pages", "forks", "model", "cow_faults", "seed", "csv", "plot")
_COUNTED = ("floor", "syscall", "fault", "ipc")


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommand parsers of parser, by name."""
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split at the first `--`: pyjos's own arguments, then the program's."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


class UsageError(Exception):
    """A bad combination of options or an unusable path, found before any work."""


def check_output(path: Path | None, option: str) -> None:
    """Raise UsageError unless path (if given) can be written, before the work."""
    if path is None:
        return
    parent = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(f"{option} {path}: is a directory")
    if not parent.is_dir():
        raise UsageError(f"{option} {path}: no directory {parent}")
    if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise UsageError(f"{option} {path}: not writable")


def write_output(path: Path, option: str, write: Callable[[Path], None]) -> None:
    """write(path), turning an OSError into a UsageError naming the option."""
    try:
        write(path)
    except OSError as exc:
        raise UsageError(f"{option} {path}: {exc.strerror or exc}") from None


def check_cache() -> None:
    """The build cache must be a writable directory (or creatable)."""
    from ..guest.build import cache_dir

    cache = cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"build cache {cache} (PYJOS_CACHE): {exc.strerror or exc}") from None
    if not os.access(cache, os.W_OK):
        raise UsageError(f"build cache {cache} (PYJOS_CACHE): not writable")


def check_programs(programs: list[str]) -> None:
    """Every program must exist before the machine boots; a missing one after
    the first is most likely an argument that needed `--`."""
    from ..guest.build import ProgramNotFound, resolve_program

    for i, program in enumerate(programs):
        try:
            resolve_program(program)
        except ProgramNotFound as exc:
            if i == 0:
                raise
            hint = " ".join(programs[:i])
            raise ProgramNotFound(f"{exc}; arguments for the program go after --: "
                                  f"pyjos run {hint} -- {' '.join(programs[i:])}") from None


def cmd_run(ns: argparse.Namespace, prog_args: list[str]) -> int:
    from ..api import boot, to_stdout
    from ..kernel.kernel import timer_unit
    from ..kernel.monitor import TerminalLines
    from . import report
    from .costmodel import priced

    check_output(ns.stats_json, "--stats-json")
    check_cache()
    models = _run_models(ns)
    if ns.jos is None:  # programs of a --jos tree are checked when built
        check_programs(ns.programs)
    try:
        observe.check(ns)
    except observe.ObserveError as exc:
        print(f"pyjos: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if not ns.quiet:  # before boot, which prints JOS's boot lines
        print(f"# pyjos {__version__} unicorn {UNICORN_VERSION}: mem {ns.mem} MiB, "
              f"quantum {ns.quantum} {timer_unit()}, max-insns {ns.max_insns or 'none'}, "
              f"fork {ns.fork or 'cow'}, cow-faults {ns.cow_faults}, console {ns.console}, "
              f"cpus {ns.cpus}, "
              f"seed {'none' if ns.seed is None else ns.seed}, "
              f"programs {' '.join(ns.programs)}, args {prog_args}", flush=True)
    system = boot(mem_mib=ns.mem, quantum=ns.quantum, max_insns=ns.max_insns, fork=ns.fork,
                  cow_faults=ns.cow_faults, console=ns.console, on_breakpoint=ns.on_breakpoint,
                  monitor_input=TerminalLines() if sys.stdin.isatty() else None,
                  cpus=ns.cpus, seed=ns.seed, echo=to_stdout, keep_console=False)
    kernel = system.kernel
    try:
        with observe.watching(system, ns, f"pyjos run {' '.join(ns.programs)} "
                                          f"(fork {ns.fork or 'cow'})"):
            for program in ns.programs:
                grade.create_env(kernel, program, prog_args, ns.jos)
            stub = _gdb_stub(kernel, ns) if ns.gdb is not None else None
            if stub is False:
                return EXIT_ERROR
            result = system.run()
            if stub:
                stub.finish()
    except observe.ObserveError as exc:
        print(f"pyjos: {exc}", file=sys.stderr)
        return EXIT_ERROR
    if result.reason == "output-closed":
        _silence_stdout()
        return EXIT_OK
    if ns.stats:
        print(format_stats(kernel.stats.total, kernel.cpu_counts()))
        if models:
            print(report.model_table(kernel.stats.total, models))
    if ns.stats_json:
        stats = kernel.stats_dict()
        if models:
            stats["models"] = priced(kernel.stats.total, models)
        text = json.dumps(stats, indent=2) + "\n"
        write_output(ns.stats_json, "--stats-json", lambda path: path.write_text(text))
    if result.reason == "panic":
        print(f"pyjos: kernel panic: {result.message}", file=sys.stderr)
        return EXIT_PANIC
    if result.reason == "max-insns":
        print(f"pyjos: {result.message}", file=sys.stderr)
        return EXIT_LIMIT
    if result.reason in ("interrupted", "killed"):
        print(f"pyjos: {'interrupted' if result.reason == 'interrupted' else result.message}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _run_models(ns: argparse.Namespace) -> list:
    """--model's cost models (the host one calibrated now, before the run);
    UsageError without --stats or --stats-json, or if host calibration fails."""
    from .costmodel import get_models

    if not ns.model:
        return []
    if not (ns.stats or ns.stats_json):
        raise UsageError("--model prices the counters: give it with --stats or --stats-json")
    try:
        return get_models(ns.model)
    except RuntimeError as exc:
        raise UsageError(f"--model host: {exc}") from None


def _gdb_stub(kernel, ns: argparse.Namespace):
    """--gdb: listen for gdb and print the command to type; False on error."""
    from ..guest.build import build_program
    from .gdb.kernel_target import GdbStub

    try:
        stub = GdbStub(kernel, ns.gdb, lambda line: print(f"# {line}", file=sys.stderr, flush=True))
    except (ValueError, OSError) as exc:
        print(f"pyjos: --gdb {ns.gdb}: {exc.strerror if isinstance(exc, OSError) else exc}",
              file=sys.stderr)
        return False
    print(f"# gdb: waiting for gdb on {stub.host}:{stub.port}; type:\n"
          f"#   {stub.command(build_program(ns.programs[0]))}", flush=True)
    return stub


def _silence_stdout() -> None:
    """stdout's reader is gone (`| head`): point stdout at /dev/null so that
    Python's final flush does not fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def format_stats(total: dict[str, int], per_cpu: dict[str, dict[str, int]] | None = None) -> str:
    """The counters as an aligned two-column table; with several CPUs, then
    one table of each CPU's own counts."""
    tables = [("--- stats ---", total)] + [(f"--- stats of CPU {num} ---", counts)
                                          for num, counts in (per_cpu or {}).items()]
    width = max((len(k) for _, counts in tables for k in counts), default=10)
    return "\n".join(line for title, counts in tables for line in
                     [title] + [f"{k:<{width}}  {v:>12,d}" for k, v in sorted(counts.items())])


def cmd_list() -> int:
    progs = list_programs()
    width = max(len(n) for n, _ in progs)
    for name, desc in progs:
        print(f"{name:<{width}}  {desc}")
    return EXIT_OK


def names_of_cpus() -> Callable[[str], list[int]]:
    """An argparse type: a comma-separated list of CPU counts, 1 to NCPU each."""
    one = bounded(1, NCPU)

    def parse(text: str) -> list[int]:
        return [one(part) for part in text.split(",")]
    return parse


def check_bench_options(ns: argparse.Namespace) -> None:
    """Refuse options the chosen benchmark would ignore; check outputs first."""
    given = [name for name in _FORK_ONLY if getattr(ns, name) is not None]
    if ns.what != "fork" and given:
        raise UsageError(f"--{given[0].replace('_', '-')} applies to `bench fork` only, "
                         f"not to {'the suite' if ns.what is None else 'bench ' + ns.what}")
    if ns.cpus is not None and ns.what != "programs":
        raise UsageError("--cpus applies to `bench programs` only")
    if ns.iterations is not None and ns.what not in _COUNTED:
        raise UsageError(f"--iterations applies to bench {', '.join(_COUNTED)} only")
    check_output(ns.csv, "--csv")
    check_output(ns.plot, "--plot")
    if ns.plot is not None and importlib.util.find_spec("matplotlib") is None:
        raise UsageError("--plot needs matplotlib: python3 -m pip install matplotlib "
                         "(or pip install 'pyjos[plot]')")


def cmd_bench(ns: argparse.Namespace) -> int:
    from . import bench

    check_bench_options(ns)
    check_cache()
    if ns.what is None:
        return _bench_suite(ns)
    if ns.what == "fork":
        return _bench_fork(ns)
    models = _suite_models(ns)
    if ns.what == "floor":
        result = bench.bench_floor(ns.iterations or 200_000, max(ns.repeat, 3))
    elif ns.what == "syscall":
        result = bench.bench_syscall(ns.iterations or 200_000, ns.repeat, models)
    elif ns.what == "fault":
        result = bench.bench_fault(ns.iterations or 8192, ns.repeat, models)
    elif ns.what == "ipc":
        result = bench.bench_ipc(ns.iterations or 20_000, ns.repeat, models)
    else:
        result = bench.bench_programs(ns.repeat, models, ns.cpus or [1])
    if ns.what in ("syscall", "fault", "ipc"):  # trap-bound: also as ratios to the floor
        result = bench.add_floor_ratios(result, bench.bench_floor(200_000, 3)["us_per_trap"])
    for key in bench.unmeasurable(result):
        print(f"pyjos: warning: {key} came out {result[key]}: the difference of a run with "
              "the iterations and one without is below this machine's run-to-run noise; "
              "give more --iterations", file=sys.stderr)
    if ns.json:
        print(json.dumps(result, indent=2))
    else:
        width = max(map(len, result))
        for key, value in result.items():
            print(f"{key:{width}s} {value}")
    return EXIT_OK


def _bench_fork(ns: argparse.Namespace) -> int:
    from . import bench, report
    from .costmodel import get_models

    strategies = ns.strategy or list(FORK_KINDS)
    pages = ns.pages if ns.pages is not None else list(bench.DEFAULT_FORK_PAGES)
    try:
        models = get_models(ns.model or list(MODEL_NAMES))
    except RuntimeError as exc:
        print(f"pyjos: {exc}", file=sys.stderr)
        return EXIT_ERROR
    forks, seed, cow_faults = ns.forks or 5, ns.seed or 0, ns.cow_faults or "user"
    config = {"strategies": strategies, "pages": pages, "forks": forks, "repeat": ns.repeat,
              "seed": seed, "cow_faults": cow_faults, "models": [m.name for m in models],
              **bench.environment()}
    if not ns.json:
        print("# pyjos bench fork: " + ", ".join(f"{k} {v}" for k, v in config.items()), flush=True)
    rows = bench.bench_fork_suite(strategies, pages, forks, ns.repeat, models, seed,
                                  cow_faults, report.progress_line)
    native = [r for r in (bench.bench_native(n, forks, ns.repeat) for n in pages) if r]
    bench.add_native(rows, native)
    answers = bench.answer_lines(rows) + bench.odf_lines(rows)
    notes = bench.skipped_cases(strategies, pages, forks) + (
        [] if native else ["no native row: no host C compiler works"])
    if ns.csv:
        write_output(ns.csv, "--csv", lambda path: report.write_csv(rows, path))
    if ns.plot:
        write_output(ns.plot, "--plot",
                     lambda path: report.write_fork_plot(rows, path, models[0].name, native))
    if ns.json:
        print(json.dumps({"benchmark": "fork", "config": config,
                          "models": {m.name: {"description": m.description, "cycles": m.cycles,
                                              "sources": m.sources, "clock_ghz": m.clock_ghz}
                                     for m in models},
                          "results": rows, "native": native, "answers": answers,
                          "native_answers": bench.native_lines(rows), "notes": notes}, indent=2))
    else:
        print(report.fork_tables(rows, native))
        print("\n".join(answers + bench.native_lines(rows) + notes))
    return EXIT_OK


def cmd_fuzz(ns: argparse.Namespace) -> int:
    from .fuzz import fuzz

    check_cache()
    print(f"# pyjos fuzz: seed {ns.seed}, calls {ns.calls:,}, envs {ns.envs} + bystander, "
          f"fork {ns.fork or 'cow'}", flush=True)
    result = fuzz(ns.seed, ns.calls, ns.envs, fork=ns.fork,
                  out=sys.stdout.write if ns.verbose else None)
    print(result.summary())
    if result.ok:
        return EXIT_OK
    if not ns.verbose:
        print("--- the console's last lines ---\n" + "\n".join(result.tail))
    for problem in result.problems:
        print(f"pyjos: fuzz: {problem}", file=sys.stderr)
    return EXIT_PANIC if result.reason == "panic" else EXIT_ERROR


def _bench_suite(ns: argparse.Namespace) -> int:
    from . import bench, josfigures, report

    jos = josfigures.load(ns.jos_figures) if ns.jos_figures else None
    if not ns.json:
        print("# pyjos bench: " + ", ".join(f"{k} {v}" for k, v in bench.environment().items()),
              flush=True)
    models = _suite_models(ns)
    rows = bench.bench_suite(ns.repeat, models, jos, report.progress_line)
    if ns.json:
        print(json.dumps({"benchmark": "suite", "results": rows, "jos_figures": jos,
                          **bench.environment()}, indent=2))
    else:
        print(report.suite_table(rows, [m.name for m in models], jos and jos["source"]))
    return EXIT_OK


def _suite_models(ns: argparse.Namespace) -> list:
    """The cost models beside the suite's figures: --model, or i386 and p4."""
    from .costmodel import get_models

    return get_models(ns.model or ["i386", "p4"])


def main(argv: list[str] | None = None) -> int:
    own, prog_args = split_args(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    ns, extra = parser.parse_known_args(own)
    if extra:  # reported with the subcommand's usage, not the top level's
        subparser = _subparsers(parser)[ns.command]
        subparser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        if ns.command == "run":
            return cmd_run(ns, prog_args)
        if ns.command == "list":
            return cmd_list()
        if ns.command == "fuzz":
            return cmd_fuzz(ns)
        if hasattr(ns, "handler"):  # grade, init
            return ns.handler(ns)
        return cmd_bench(ns)
    except (BuildError, ElfError, LoadError, MachineError, UsageError, JosFiguresError) as exc:
        print(f"pyjos: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pyjos: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of our output went away (`| head`)
        _silence_stdout()
        return EXIT_OK
