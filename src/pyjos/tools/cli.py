"""The ``pyjos`` command line: run, list, bench."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .. import __version__
from ..guest.build import BuildError, list_programs
from .bench import FORK_STRATEGIES
from .costmodel import MODEL_NAMES
from ..guest.elf import ElfError
from .josfigures import JosFiguresError
from ..kernel import FORK_STRATEGIES as KERNEL_FORKS
from ..kernel.env import LoadError
from ..machine import UNICORN_VERSION, MachineError

EXIT_OK = 0
EXIT_ERROR = 1  # unknown program, build error, bad ELF, bad setting
EXIT_PANIC = 3  # kernel panic (a kernel bug)
EXIT_LIMIT = 4  # --max-insns reached
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT)


def _mib(text: str) -> int:
    value = int(text)
    if value < 4 or value > 1024:
        raise argparse.ArgumentTypeError("memory must be 4 to 1024 MiB")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _nonnegative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be zero or a positive integer")
    return value


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}") from None
    if any(v < 0 or v > 131072 for v in values):
        raise argparse.ArgumentTypeError("page counts must be 0 to 131072")
    return values


def _names(kind: str, valid: tuple[str, ...]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated list of names from `valid`."""
    def parse(text: str) -> list[str]:
        names = text.split(",")
        for name in names:
            if name not in valid:
                raise argparse.ArgumentTypeError(
                    f"unknown {kind} {name!r} (choose from {', '.join(valid)})")
        return names
    return parse


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
    run.add_argument("--mem", type=_mib, default=128, metavar="MIB",
                     help="physical memory in MiB, 4 to 1024 (default 128)")
    run.add_argument("--quantum", type=_positive, default=10_000, metavar="N",
                     help="time slice before preemption, in guest basic blocks (instructions "
                          "where no host C compiler builds the native timer; default 10000)")
    run.add_argument("--max-insns", type=_nonnegative, default=0, metavar="N",
                     help="stop with exit status 4 once at least N guest instructions ran "
                          "(checked at each timer interrupt; 0 = no limit)")
    run.add_argument("--fork", choices=list(KERNEL_FORKS), default=None,
                     help="what the library's fork() does in this run: eager copy, "
                          "user-level copy-on-write (the default, as JOS), the same in "
                          "batched system calls, or the kernel's sys_fork")
    run.add_argument("--cow-faults", choices=["user", "kernel"], default="user",
                     help="who resolves a write to a PTE_COW page: the env's page-fault "
                          "upcall (user, the exokernel way and the default) or the kernel "
                          "itself (kernel, as a monolithic kernel does)")
    run.add_argument("--stats", action="store_true", help="print event counters after the run")
    run.add_argument("--stats-json", type=Path, metavar="FILE",
                     help="write event counters (global and per env) as JSON")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="do not echo the configuration line first")

    sub.add_parser("list", help="list the bundled programs")

    bench = sub.add_parser("bench", help="measure the kernel",
                           description="Benchmarks; wall times are of pyjos on this machine, "
                                       "modelled cycles of real CPUs (see --model). "
                                       "With no benchmark named, runs the suite.")
    bench.add_argument("what", nargs="?", choices=["syscall", "fault", "fork", "ipc", "programs"],
                       help="which benchmark (default: the whole suite, one table)")
    bench.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    bench.add_argument("--iterations", type=_positive, default=None, metavar="N",
                       help="calls (syscall, default 200000), faults (fault, default 8192) "
                            "or messages (ipc, default 20000)")
    bench.add_argument("--repeat", type=_positive, default=3, metavar="R",
                       help="measurements; figures are the minimum or the median (default 3)")
    bench.add_argument("--strategy", type=_names("strategy", FORK_STRATEGIES), default=None,
                       metavar="S[,S...]",
                       help="fork strategies (fork; default dumb,cow,batch,kernel,odf,sfork)")
    bench.add_argument("--pages", type=_int_list, default=None, metavar="N[,N...]",
                       help="extra mapped pages of the forking process, up to 131072 "
                            "(fork; default 0,16,64,256,1024,4096,16384,65536: several "
                            "minutes, most of it N=65536; each N is also measured natively)")
    bench.add_argument("--forks", type=_positive, default=5, metavar="F",
                       help="forks per measurement (fork; default 5)")
    bench.add_argument("--model", type=_names("cost model", MODEL_NAMES), default=None,
                       metavar="M[,M...]",
                       help="cost models for modelled cycles: i386, p4, host (calibrated on "
                            "this machine) (fork: default all three; the others: i386,p4)")
    bench.add_argument("--cow-faults", choices=["user", "kernel"], default="user",
                       help="who resolves copy-on-write faults (fork; default user)")
    bench.add_argument("--seed", type=int, default=0,
                       help="seed of the order in which the fork cases are measured (default 0)")
    bench.add_argument("--jos-figures", type=Path, metavar="FILE",
                       help="your own measured JOS figures (JSON) to show beside the suite's; "
                            "format and how to measure: docs/how-much-faster.md")
    bench.add_argument("--csv", type=Path, metavar="FILE", help="write the fork rows as CSV")
    bench.add_argument("--plot", type=Path, metavar="FILE.png",
                       help="plot speedup over cow fork and cost per fork cycle (with "
                            "native) against N (needs matplotlib)")
    return p


def split_args(argv: list[str]) -> tuple[list[str], list[str]]:
    """Split at the first `--`: pyjos's own arguments, then the program's."""
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def cmd_run(ns: argparse.Namespace, prog_args: list[str]) -> int:
    from ..kernel import Kernel, KernelConfig
    from ..kernel.monitor import TerminalLines

    config = KernelConfig(mem=ns.mem * 1024 * 1024, quantum=ns.quantum,
                          max_insns=ns.max_insns, fork=ns.fork, cow_faults=ns.cow_faults,
                          monitor_input=TerminalLines() if sys.stdin.isatty() else None)
    kernel = Kernel(config)
    if not ns.quiet:
        print(f"# pyjos {__version__} unicorn {UNICORN_VERSION}: mem {ns.mem} MiB, "
              f"quantum {ns.quantum} {kernel.machine.timer_unit}, max-insns {ns.max_insns or 'none'}, "
              f"fork {ns.fork or 'cow'}, cow-faults {ns.cow_faults}, "
              f"programs {' '.join(ns.programs)}, args {prog_args}", flush=True)
    for program in ns.programs:
        kernel.create_env(program, prog_args)
    result = kernel.run()
    if result.reason == "output-closed":
        _silence_stdout()
        return EXIT_OK
    if ns.stats:
        print(format_stats(kernel.stats.total))
    if ns.stats_json:
        ns.stats_json.write_text(json.dumps(kernel.stats.as_dict(), indent=2) + "\n")
    if result.reason == "panic":
        print(f"pyjos: kernel panic: {result.message}", file=sys.stderr)
        return EXIT_PANIC
    if result.reason == "max-insns":
        print(f"pyjos: {result.message}", file=sys.stderr)
        return EXIT_LIMIT
    if result.reason == "interrupted":
        print("pyjos: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def _silence_stdout() -> None:
    """stdout's reader is gone (`| head`): point stdout at /dev/null so that
    Python's final flush does not fail."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


def format_stats(total: dict[str, int]) -> str:
    """The counters as an aligned two-column table."""
    width = max((len(k) for k in total), default=10)
    return "\n".join(["--- stats ---"] + [f"{k:<{width}}  {v:>12,d}" for k, v in sorted(total.items())])


def cmd_list() -> int:
    progs = list_programs()
    width = max(len(n) for n, _ in progs)
    for name, desc in progs:
        print(f"{name:<{width}}  {desc}")
    return EXIT_OK


def cmd_bench(ns: argparse.Namespace) -> int:
    from . import bench

    if ns.what is None:
        return _bench_suite(ns)
    if ns.what == "fork":
        return _bench_fork(ns)
    models = _suite_models(ns)
    if ns.what == "syscall":
        result = bench.bench_syscall(ns.iterations or 200_000, ns.repeat, models)
    elif ns.what == "fault":
        result = bench.bench_fault(ns.iterations or 8192, ns.repeat, models)
    elif ns.what == "ipc":
        result = bench.bench_ipc(ns.iterations or 20_000, ns.repeat, models)
    else:
        result = bench.bench_programs(ns.repeat, models)
    if ns.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:24s} {value}")
    return EXIT_OK


def _bench_fork(ns: argparse.Namespace) -> int:
    from . import bench, report
    from .costmodel import get_models

    strategies = ns.strategy or list(FORK_STRATEGIES)
    pages = ns.pages if ns.pages is not None else list(bench.DEFAULT_FORK_PAGES)
    try:
        models = get_models(ns.model or list(MODEL_NAMES))
    except RuntimeError as exc:
        print(f"pyjos: {exc}", file=sys.stderr)
        return EXIT_ERROR
    config = {"strategies": strategies, "pages": pages, "forks": ns.forks, "repeat": ns.repeat,
              "seed": ns.seed, "cow_faults": ns.cow_faults, "models": [m.name for m in models],
              **bench.environment()}
    if not ns.json:
        print("# pyjos bench fork: " + ", ".join(f"{k} {v}" for k, v in config.items()), flush=True)
    rows = bench.bench_fork_suite(strategies, pages, ns.forks, ns.repeat, models, ns.seed,
                                  ns.cow_faults, report.progress_line)
    native = [r for r in (bench.bench_native(n, ns.forks, ns.repeat) for n in pages) if r]
    bench.add_native(rows, native)
    answers = bench.answer_lines(rows)
    notes = bench.skipped_cases(strategies, pages, ns.forks) + (
        [] if native else ["no native row: no host C compiler works"])
    if ns.csv:
        report.write_csv(rows, ns.csv)
    if ns.plot:
        report.write_fork_plot(rows, ns.plot, models[0].name, native)
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
    ns = make_parser().parse_args(own)
    try:
        if ns.command == "run":
            return cmd_run(ns, prog_args)
        if ns.command == "list":
            return cmd_list()
        return cmd_bench(ns)
    except (BuildError, ElfError, LoadError, MachineError, JosFiguresError) as exc:
        print(f"pyjos: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("pyjos: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # the reader of our output went away (`| head`)
        _silence_stdout()
        return EXIT_OK
