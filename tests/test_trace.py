"""pyjos run --trace: the Chrome trace's structure, its counts, its clocks."""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import pytest

from pyjos.abi import FORK_STRATEGIES
from pyjos.api import boot
from pyjos.kernel.events import COUNTERS
from pyjos.tools import cli
from pyjos.tools.memview import MemView
from pyjos.tools.trace import CATEGORIES, Tracer


def traced(tmp_path: Path, program: str, args=(), clock="blocks", categories=None,
           name="t.json", **settings):
    """Run program under a Tracer; (trace dict, System, path)."""
    path = tmp_path / name
    system = boot(**settings)
    tracer = Tracer(system.kernel, path, clock, categories)
    system.spawn(program, args)
    system.run()
    tracer.close()
    return json.loads(path.read_text()), system, path


def records(trace, ph=None, cat=None, name=None):
    return [r for r in trace["traceEvents"]
            if (ph is None or r["ph"] == ph) and (cat is None or r.get("cat") == cat)
            and (name is None or r["name"] == name)]


@pytest.fixture(scope="module")
def forktree(tmp_path_factory):
    return traced(tmp_path_factory.mktemp("trace"), "forktree")


def test_one_process_per_cpu_and_a_named_track_per_env(forktree):
    trace, system, _ = forktree
    procs = records(trace, "M", name="process_name")
    assert [(p["pid"], p["args"]["name"]) for p in procs] == [(1, "cpu 0")]
    names = {r["tid"]: r["args"]["name"] for r in records(trace, "M", name="thread_name")}
    envs = {int(line.split()[-1], 16) for line in system.console.splitlines()
            if " new env " in line}
    assert len(envs) == 15
    for envid in envs:
        assert names[envid] == f"env {envid:08x} forktree"
    assert all(r["pid"] == 1 for r in trace["traceEvents"])


def test_system_calls_are_complete_slices_with_arguments_and_result(forktree):
    trace, _, _ = forktree
    calls = records(trace, "X", cat="syscall")
    by_name = Counter(r["name"] for r in calls)
    assert by_name["sys_exofork"] == 14 and by_name["sys_cputs"] >= 15
    mapping = next(r for r in calls if r["name"] == "sys_page_map")
    assert set(mapping["args"]) == {"srcenvid", "srcva", "dstenvid", "dstva", "perm", "ret"}
    assert mapping["args"]["ret"] == 0 and mapping["dur"] > 0
    forks = [r for r in calls if r["name"] == "sys_exofork"]
    assert all(r["args"]["ret"] > 0x1000 for r in forks)  # the child's id
    # Every system call lies inside a run slice of its env (proper nesting).
    runs = records(trace, "X", cat="switch", name="run")
    for call in calls:
        assert any(run["tid"] == call["tid"] and run["ts"] <= call["ts"]
                   and call["ts"] + call["dur"] <= run["ts"] + run["dur"] for run in runs), call


def test_faults_upcalls_forks_and_counters(forktree):
    trace, system, _ = forktree
    stats = system.stats
    faults = records(trace, "i", cat="fault", name="page fault")
    assert len(faults) == stats["page_faults"] > 0
    assert all(f["args"]["write"] for f in faults)  # copy-on-write faults are writes
    begins, ends = records(trace, "b", name="upcall"), records(trace, "e", name="upcall")
    assert len(begins) == len(ends) == stats["upcalls"]
    open_at: dict[str, float] = {}  # each upcall ends after it began, before the next one
    for r in records(trace, cat="upcall"):
        if r["ph"] == "b":
            assert r["id"] not in open_at
            open_at[r["id"]] = r["ts"]
        else:
            assert r["ts"] > open_at.pop(r["id"])
    assert not open_at
    fork_ends = records(trace, "e", name="fork")
    assert len(records(trace, "b", name="fork")) == len(fork_ends) == 14
    assert all(e["args"]["traps"] > 1 and "seconds" not in e["args"] for e in fork_ends)
    free = records(trace, "C", name="free pages")
    shared = records(trace, "C", name="shared frames")
    assert free and shared and max(s["args"]["frames"] for s in shared) > 0
    assert free[-1]["args"]["pages"] == system.free_pages
    ts = [r["ts"] for r in trace["traceEvents"] if r["ph"] in "iCbe"]
    assert ts == sorted(ts)  # records are written in time order


def _counts_in(trace) -> dict[str, int]:
    """Each counted event's number in the trace: the last value of its counter track."""
    return {r["name"]: r["args"]["count"] for r in records(trace, "C", cat="counts")}


def assert_counts_match(trace, stats) -> None:
    """Every counter track ends at its --stats count, and the events with records
    of their own have one record each."""
    assert _counts_in(trace) == {k: v for k, v in stats.items() if k in COUNTERS}
    calls = Counter(r["name"][4:] for r in records(trace, "X", cat="syscall"))
    assert {f"syscalls.{n}": c for n, c in calls.items()} == {
        k: v for k, v in stats.items() if k.startswith("syscalls.")}
    for counter, (ph, name) in PER_RECORD.items():
        assert len(records(trace, ph, name=name)) == stats.get(counter, 0), counter
    forks = [e for e in records(trace, "e", name="fork") if "unfinished" not in e["args"]]
    assert len(forks) == stats["fork.calls"]
    assert sum(e["args"]["traps"] for e in forks) == stats["fork.traps"]
    assert sum(e["args"]["syscalls"] for e in forks) == stats["fork.syscalls"]


# Counted events that get a record each: counter -> (phase, record name).
PER_RECORD = {"page_faults": ("i", "page fault"), "upcalls": ("b", "upcall"),
              "pages_copied": ("i", "page copied"), "tlb_flushes": ("i", "TLB flush"),
              "env_switches": ("i", "env switch"), "traps.timer": ("i", "timer"),
              "kernel_page_copies": ("i", "kernel page copy")}


@pytest.mark.parametrize("strategy", list(FORK_STRATEGIES))
def test_every_event_count_equals_its_counter(tmp_path, strategy):
    trace, system, _ = traced(tmp_path, "forktree", fork=strategy)
    assert_counts_match(trace, system.stats)


@pytest.mark.parametrize("clock", ["blocks", "model:i386"])
def test_deterministic_clocks_give_byte_identical_traces(tmp_path, clock):
    _, _, first = traced(tmp_path, "forktree", clock=clock, name="a.json")
    _, _, second = traced(tmp_path, "forktree", clock=clock, name="b.json")
    assert first.read_bytes() == second.read_bytes()


def test_model_clock_prices_the_kernel_work(tmp_path):
    trace, _, _ = traced(tmp_path, "hello", clock="model:i386")
    getenvid = records(trace, "X", name="sys_getenvid")
    # One system call's dispatch on a 33 MHz 80386: 120 cycles = 3.636 us.
    assert getenvid and all(r["dur"] == pytest.approx(120 / 33.0, abs=0.002) for r in getenvid)


def test_wall_clock_keeps_the_fork_seconds(tmp_path):
    trace, _, _ = traced(tmp_path, "forktree", clock="wall", categories=["fork"])
    ends = records(trace, "e", name="fork")
    assert ends and all(e["args"]["seconds"] > 0 for e in ends)


def test_filter_keeps_only_the_categories_asked_for(tmp_path, forktree):
    trace, system, _ = traced(tmp_path, "forktree", categories=["syscall", "fork"])
    cats = {r.get("cat") for r in trace["traceEvents"] if r["ph"] != "M"}
    assert cats == {"syscall", "fork"}
    assert trace["otherData"]["categories"] == ["syscall", "fork"]
    # The same time axis as the whole trace's: the clock counts every event.
    def calls(t):
        return [(r["name"], r["ts"], r["dur"]) for r in records(t, "X", cat="syscall")]
    assert calls(trace) == calls(forktree[0])


def test_the_trace_streams_to_the_file_during_the_run(tmp_path):
    path = tmp_path / "s.json"
    system = boot()
    tracer = Tracer(system.kernel, path)
    sizes = []
    system.subscribe(lambda ev: sizes.append(os.path.getsize(path)), ["fork.calls"])
    system.spawn("forktree")
    system.run()
    tracer.close()
    assert sizes[-1] > 64 * 1024 and sizes[-1] < path.stat().st_size  # written as it happens


def test_cli_trace_options(tmp_path, capsys):
    out = tmp_path / "cli.json"
    assert cli.main(["run", "-q", "--trace", str(out), "--trace-clock", "model:p4",
                     "--trace-filter", "syscall", "hello"]) == 0
    trace = json.loads(out.read_text())
    assert trace["otherData"]["clock"] == "model:p4"
    assert records(trace, "X", name="sys_cputs")


@pytest.mark.parametrize("argv, message", [
    (["--trace", "/nonexistent/dir/t.json"], "pyjos: cannot write /nonexistent/dir/t.json: "
                                             "No such file or directory"),
    (["--trace", "t.json", "--trace-clock", "sundial"], "pyjos: unknown trace clock 'sundial' "
     "(choose from blocks, model:i386, model:p4, model:host, wall)"),
    (["--trace", "t.json", "--trace-filter", "syscall,nope"],
     f"pyjos: unknown trace category 'nope' (choose from {', '.join(CATEGORIES)})"),
])
def test_cli_trace_errors_are_one_line(tmp_path, capsys, monkeypatch, argv, message):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["run", "-q", *argv, "hello"]) == cli.EXIT_ERROR
    captured = capsys.readouterr()
    assert captured.err == message + "\n"
    assert "Traceback" not in captured.out + captured.err


@pytest.mark.parametrize("program, want", [
    ("nestedfault", [("upcalls", 0x10000000), ("upcalls", 0x20000000),
                     ("upcall_return", 0x20000000), ("upcall_return", 0x10000000)]),
    ("faultdie", [("upcalls", 0xdeadbeef)]),  # the handler destroys the env: no return
])
def test_upcall_return_is_seen_innermost_first(program, want):
    system = boot()
    seen = []
    system.subscribe(lambda e: seen.append((e.name, e.args[0])), ["upcalls", "upcall_return"])
    system.spawn(program)
    system.run()
    assert seen == want


GOLDEN = Path(__file__).parent / "golden"
WATCHED_CASES = ("forktree [fork=batch]", "primes 300", "faultdie", "nestedfault", "sendpage",
                 "forkbench 16 2 sfork", "breakpoint", "pingpong [cow_faults=kernel]")


@pytest.mark.parametrize("key", WATCHED_CASES)
def test_watching_changes_nothing(tmp_path, key):
    """With the trace and the memory picture on, a run prints and counts exactly
    what tests/golden recorded without them (and the trace is valid JSON)."""
    sys.path.insert(0, str(GOLDEN))
    import capture  # tests/golden/capture.py

    (case,) = [c for c in capture.cases() if capture.key(*c) == key]
    program, args, settings = case
    want = json.loads((GOLDEN / "programs.json").read_text())[key]
    system = boot(max_insns=capture.MAX_INSNS, **settings)
    tracer = Tracer(system.kernel, tmp_path / "t.json")
    view = MemView(system.kernel, tmp_path / "m.html")
    system.spawn(program, args)
    result = system.run()
    tracer.close()
    view.close()
    json.loads((tmp_path / "t.json").read_text())
    assert (result.reason, system.console) == (want["reason"], want["console"])
    assert system.stats_per_env() == want["stats"]


def test_every_record_has_the_formats_fields(forktree):
    trace, _, _ = forktree
    for r in trace["traceEvents"]:
        assert r["ph"] in "MXibeC" and isinstance(r["pid"], int) and isinstance(r["name"], str)
        if r["ph"] != "M":
            assert isinstance(r["ts"], (int, float)) and r["ts"] >= 0 and "cat" in r
        if r["ph"] == "X":
            assert r["dur"] >= 0 and isinstance(r["tid"], int)
        if r["ph"] in "be":
            assert r["id"] and r["cat"] == r["name"]
        if r["ph"] == "i":
            assert r["s"] == "t"
        if r["ph"] == "C":
            assert all(isinstance(v, int) for v in r["args"].values())


def test_an_unknown_system_call_is_a_slice_with_its_number(tmp_path):
    source = tmp_path / "badcall.c"
    source.write_text('#include <inc/lib.h>\nvoid\numain(int argc, char **argv)\n{\n'
                      '\tint r;\n\tasm volatile("int $0x30" : "=a" (r) : "a" (99));\n'
                      '\tcprintf("got %d\\n", r);\n}\n')
    trace, system, _ = traced(tmp_path, str(source))
    (call,) = records(trace, "X", name="sys_unknown")
    assert call["args"] == {"number": "0x00000063", "ret": -3}  # -E_INVAL
    assert "got -3" in system.console


# --- several CPUs ----------------------------------------------------------------------
def traced_cpus(tmp_path: Path, program: str, cpus: int, **settings):
    """traced() with several CPUs, also recording which CPU each event came
    from; (trace, System, path, Counter of (event, cpu))."""
    path = tmp_path / f"{program}-{cpus}.json"
    system = boot(cpus=cpus, **settings)
    tracer = Tracer(system.kernel, path)
    seen: Counter = Counter()
    system.subscribe(lambda ev: seen.update([(ev.name, ev.cpu)]))
    system.spawn(program)
    system.run()
    tracer.close()
    return json.loads(path.read_text()), system, path, seen


def seen_on(seen: Counter, wanted) -> Counter:
    """CPU -> how many of the events seen (traced_cpus) wanted(name) accepts."""
    out: Counter = Counter()
    for (name, cpu), n in seen.items():
        if wanted(name):
            out[cpu] += n
    return out


@pytest.mark.parametrize("program, cpus", [("forktree", 2), ("forktree", 4), ("stresssched", 4)])
def test_several_cpus_each_cpus_events_on_its_track(tmp_path, program, cpus):
    trace, system, _, seen = traced_cpus(tmp_path, program, cpus)
    assert_counts_match(trace, system.stats)
    per_cpu = system.kernel.cpu_counts()
    procs = {p["pid"]: p["args"]["name"] for p in records(trace, "M", name="process_name")}
    used = {pid for pid in range(1, cpus + 1) if per_cpu[str(pid - 1)]["subslices"]}
    assert len(used) >= 2 and procs == {pid: f"cpu {pid - 1}" for pid in used}
    assert {r["pid"] for r in trace["traceEvents"]} == used
    # Each record is on the process of the CPU its event happened on.
    for counter, (ph, name) in PER_RECORD.items():
        on_pid = Counter(r["pid"] - 1 for r in records(trace, ph, name=name))
        assert on_pid == seen_on(seen, lambda ev, name=counter: ev == name), counter
    timers = Counter(r["pid"] - 1 for r in records(trace, "i", name="timer"))
    assert timers == Counter({int(c): n["timer_interrupts"] for c, n in per_cpu.items()})
    calls = Counter(r["pid"] - 1 for r in records(trace, "X", cat="syscall"))
    assert calls == seen_on(seen, lambda ev: ev.startswith("syscalls."))
    # A system call lies inside a run slice of its env on the same CPU.
    runs = records(trace, "X", cat="switch", name="run")
    for call in records(trace, "X", cat="syscall"):
        assert any(run["pid"] == call["pid"] and run["tid"] == call["tid"]
                   and run["ts"] <= call["ts"] and call["ts"] + call["dur"] <= run["ts"] + run["dur"]
                   for run in runs), call
    # One time axis for all CPUs: records in time order, and a child runs
    # only after the fork episode that made it runnable ended.
    ts = [r["ts"] for r in trace["traceEvents"] if r["ph"] in "iCbe"]
    assert ts == sorted(ts)
    fork_end = {r["args"]["child"]: r["ts"] for r in records(trace, "e", name="fork")}
    for run in runs:
        assert run["ts"] >= fork_end.get(f"{run['tid']:08x}", 0), run


@pytest.mark.parametrize("clock", ["blocks", "model:i386"])
def test_several_cpus_same_seed_byte_identical_trace(tmp_path, clock):
    def trace_of(seed: int, name: str) -> bytes:
        return traced(tmp_path, "stresssched", clock=clock, name=name, cpus=4,
                      seed=seed)[2].read_bytes()

    first = trace_of(3, "a.json")
    assert trace_of(3, "b.json") == first
    assert trace_of(4, "c.json") != first
