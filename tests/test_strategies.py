"""The same fork suite for every strategy of the library's fork() (lib/fork.c).

Each bundled program below calls plain fork(); the kernel config's ``fork``
setting makes the loader store the strategy into the program's
``pyjos_fork_strategy``, so one build serves all four.  The fork counters
(fork.calls, fork.traps, fork.syscalls) come from syscall.fork_begin/fork_end
and are checked with forkbench, which calls each strategy by name.
"""

from __future__ import annotations

import re

import pytest

from conftest import (BIG_LIMIT, FORKTREE_NODES, IDLE, LIMIT, NO_PANIC, SPIN_LINES, exits,
                      guest_source, primes_upto, pyjos_cli)
from pyjos.kernel import Kernel, KernelConfig

STRATEGIES = ["dumb", "cow", "batch", "kernel"]
COW_STRATEGIES = ["cow", "batch", "kernel"]


# --- the bundled fork programs, once per strategy ----------------------------------------
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_cowisolate(run_program, grade, strategy):
    text, _k, result = run_program("cowisolate", fork=strategy, **LIMIT)
    assert result.reason == "idle"
    grade(text, required=[r"cowisolate: OK", *exits("00001000", "00001001"), IDLE],
          forbidden=NO_PANIC)
    assert text.count("cowisolate: OK") == 2, text


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_forkchain(run_program, grade, in_order, strategy):
    text, _k, result = run_program("forkchain", fork=strategy, **LIMIT)
    assert result.reason == "idle"
    oks = [rf"forkchain: depth {d} OK" for d in (3, 2, 1, 0)]
    grade(text, required=[
        r"\[00001000\] new env 00001001",
        r"\[00001001\] new env 00001002",
        r"\[00001002\] new env 00001003",
        *oks,
        *exits("00001000", "00001001", "00001002", "00001003"),
    ], forbidden=NO_PANIC)
    assert in_order(text, oks), text  # each level waits for its child


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_forktree(run_program, grade, strategy):
    text, _k, result = run_program("forktree", fork=strategy, **LIMIT)
    assert result.reason == "idle"
    nodes = re.findall(r"^[0-9a-f]{4}: I am '([01]*)'$", text, re.M)
    assert sorted(nodes) == sorted(FORKTREE_NODES), text
    assert text.count("exiting gracefully") == len(FORKTREE_NODES), text
    assert text.count("free env") == len(FORKTREE_NODES), text
    printed = set(re.findall(r"^([0-9a-f]{4}): I am", text, re.M))
    created = {f"{int(i, 16):04x}" for i in re.findall(r"new env ([0-9a-f]{8})", text)}
    assert printed == created, text
    grade(text, required=[*exits("00001000", "00001001", "0000200."), IDLE], forbidden=NO_PANIC)


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_forktree_deterministic(run_program, run_programs, strategy):
    first, k1, _r1 = run_program("forktree", fork=strategy, **LIMIT)
    second, k2, _r2 = run_programs(["forktree"], fork=strategy, **LIMIT)
    assert first == second
    assert k1.stats.total == k2.stats.total


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_spin(run_program, grade, in_order, strategy):
    text, _k, result = run_program("spin", fork=strategy, **LIMIT)
    assert result.reason == "idle"
    grade(text, required=SPIN_LINES, forbidden=NO_PANIC)
    # Whether the child prints before or after the parent's "Running the
    # child" depends on where the timer lands in the fork (batch: after it,
    # at the default quantum); JOS's grader does not order them either.
    parent = [p for p in SPIN_LINES if "Spinning" not in p]
    assert in_order(text, parent), text
    assert in_order(text, [SPIN_LINES[1], SPIN_LINES[3], SPIN_LINES[4]]), text
    assert text.count("Spinning") == 1, text
    assert result.slices > 0  # the child is stopped only by preemption


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_pingpong(run_program, grade, in_order, strategy):
    text, _k, result = run_program("pingpong", fork=strategy, **LIMIT)
    assert result.reason == "idle"
    lines = [r"send 0 from 1000 to 1001"]
    for i in range(11):
        lines.append(rf"1001 got {i} from 1000" if i % 2 == 0 else rf"1000 got {i} from 1001")
    grade(text, required=[*lines, *exits("00001000", "00001001")], forbidden=NO_PANIC)
    assert in_order(text, lines), text


# primes fed up to a bound: (bound, the last prime's line, the next prime).  The
# default suite feeds up to 311 (64 stages); 1877 (288 stages) is a slow test.
PRIMES_BOUNDS = [
    pytest.param(311, r"CPU 0: 311 \[00001040\] new env 00001041", 313, id="311"),
    pytest.param(1877, r"CPU 0: 1877 \[00001120\] new env 00001121", 1879, id="1877",
                 marks=pytest.mark.slow),
]


@pytest.mark.parametrize("bound, last, after", PRIMES_BOUNDS)
@pytest.mark.parametrize("strategy", STRATEGIES)
def test_primes_to_bound(grade, strategy, bound, last, after):
    """primes fed up to bound: one stage per prime, each made by fork().

    The run ends idle with every stage (and the feeder) blocked in ipc_recv,
    so conftest's leak check does not apply: the kernel is booted here.
    """
    out: list[str] = []
    k = Kernel(KernelConfig(fork=strategy, **BIG_LIMIT), out=out.append)
    k.create_env("primes", [str(bound)])
    result = k.run()
    text = "".join(out)
    assert result.reason == "idle", result
    primes = primes_upto(bound)
    required = [rf"CPU 0: {p} \[0000{0x1001 + i:04x}\] new env 0000{0x1002 + i:04x}"
                for i, p in enumerate(primes)]
    assert required[0] == r"CPU 0: 2 \[00001001\] new env 00001002"
    assert required[-1] == last
    grade(text, required=[r"\[00001000\] new env 00001001", *required, IDLE],
          forbidden=[*NO_PANIC, rf".*CPU 0: {after} .*"])
    # the feeder, one stage per prime and the stage after the last, all waiting;
    # nothing else alive
    assert len(k.envtab.live()) == len(primes) + 2, len(k.envtab.live())
    assert k.stats.total.get("fork.calls") == len(primes) + 1


# --- frames shared until written ----------------------------------------------------------
_ROW = re.compile(r"^(parent|child) (\S+) frame ([0-9a-f]{8}) ref (\d+) cow ([01]) w ([01])$", re.M)


def _rows(text: str) -> dict[tuple[str, str], dict[str, int]]:
    return {(who, what): {"frame": int(frame, 16), "ref": int(ref), "cow": int(cow), "w": int(w)}
            for who, what, frame, ref, cow, w in _ROW.findall(text)}


@pytest.fixture(scope="module")
def frames_runs(run_programs):
    """The frames program run once with each strategy: {strategy: (text, rows)}."""
    src = guest_source("frames")
    runs = {}
    for strategy in STRATEGIES:
        text, _k, result = run_programs([src], fork=strategy, **LIMIT)
        assert result.reason == "idle", text
        runs[strategy] = (text, _rows(text))
    return runs


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_frames_contents_and_isolation(frames_runs, grade, strategy):
    text, rows = frames_runs[strategy]
    grade(text, required=[r"child contents OK", r"child sees 77", r"parent sees 4103 8199",
                          *exits("00001000", "00001001")], forbidden=NO_PANIC)
    assert len(rows) == 8, text


def test_frames_dumb_copies_at_fork(frames_runs):
    text, rows = frames_runs["dumb"]
    parent, child = rows[("parent", "rw")], rows[("child", "rw")]
    assert parent == {"frame": parent["frame"], "ref": 1, "cow": 0, "w": 1}, text
    assert child["frame"] != parent["frame"] and child["ref"] == 1, text
    assert child["cow"] == 0 and child["w"] == 1, text
    # a private copy too, still read-only
    pro, cro = rows[("parent", "ro")], rows[("child", "ro")]
    assert cro["frame"] != pro["frame"] and cro["ref"] == 1, text
    assert cro["w"] == 0 and cro["cow"] == 0, text
    # writing its copy changes nothing in the mapping
    assert rows[("child", "rw-written")] == child, text
    assert rows[("parent", "rw-end")]["frame"] == parent["frame"], text


@pytest.mark.parametrize("strategy", COW_STRATEGIES)
def test_frames_shared_until_written(frames_runs, strategy):
    text, rows = frames_runs[strategy]
    parent, child = rows[("parent", "rw")], rows[("child", "rw")]
    assert parent["ref"] == 1 and parent["w"] == 1 and parent["cow"] == 0, text
    # shared copy-on-write after the fork
    assert child["frame"] == parent["frame"], text
    assert child["ref"] >= 2, text
    assert child["cow"] == 1 and child["w"] == 0, text
    # the child's write gives it a private writable frame
    written = rows[("child", "rw-written")]
    assert written["frame"] != parent["frame"], text
    assert written["ref"] == 1 and written["w"] == 1 and written["cow"] == 0, text
    # the parent keeps the original frame, now copy-on-write, and alone on it
    end = rows[("parent", "rw-end")]
    assert end["frame"] == parent["frame"] and end["cow"] == 1 and end["w"] == 0, text
    assert end["ref"] == 1, text


@pytest.mark.parametrize("strategy", COW_STRATEGIES)
def test_frames_readonly_page_shared(frames_runs, strategy):
    text, rows = frames_runs[strategy]
    parent = rows[("parent", "ro")]
    for key in [("child", "ro"), ("child", "ro-end"), ("parent", "ro-end")]:
        row = rows[key]
        assert row["frame"] == parent["frame"], (key, text)
        assert row["w"] == 0 and row["cow"] == 0, (key, text)  # never writable
    assert rows[("child", "ro")]["ref"] >= 2 and rows[("child", "ro-end")]["ref"] >= 2, text


# --- fork failure: out of environments, out of memory -------------------------------------
def _exhaust_cases():
    for strategy in STRATEGIES:
        yield pytest.param(strategy, 128, "out of environments", id=f"{strategy}-envs")
        yield pytest.param(strategy, 8, "out of memory", id=f"{strategy}-mem")


@pytest.mark.parametrize("strategy, mem, error", list(_exhaust_cases()))
def test_fork_exhaustion(run_programs, strategy, mem, error):
    """fork() fails cleanly: -E_NO_FREE_ENV / -E_NO_MEM, no half-made child left.

    cow at 8 MiB is the regression case of pgfault's spare page: its parent's
    own stack fault inside duppage used to panic when the spare could not be
    refilled, although the copy was already in place.
    """
    text, k, result = run_programs([guest_source("exhaust")], mem=mem * 1024 * 1024, fork=strategy,
                                   **BIG_LIMIT)
    assert result.reason == "idle", text[-2000:]
    m = re.search(rf"^fork failed after (\d+) children: {error}$", text, re.M)
    assert m, text[-2000:]
    assert "exhaustion: parent done" in text, text[-2000:]
    n = int(m.group(1))
    assert n > 0
    if mem == 128:
        assert n == 1023, n  # NENV - 1: every slot but the parent's
    # out of memory, a started child may fail its own copy-on-write fault; its
    # handler panics, which ends that child only.  Nothing else may panic.
    panics = re.findall(r"^\[([0-9a-f]{8})\] user panic in \S+ at (.*)$", text, re.M)
    allowed = r"lib/fork\.c:\d+: fork pgfault: .*out of memory"
    assert all(re.fullmatch(allowed, msg) for _who, msg in panics), panics[:3]
    assert all(who != "00001000" for who, _msg in panics), panics[:3]
    if mem == 128:
        assert not panics, panics[:3]
    assert "kernel panic" not in text
    assert not k.envtab.live()
    assert k.pmap.nfree == k.baseline_free


# --- the fork counters ----------------------------------------------------------------------
FORKS = 3


def fork_counts(run_program, strategy: str, npages: int) -> dict[str, int]:
    """fork.* counters of forkbench mapping npages extra pages and forking FORKS times."""
    text, k, result = run_program("forkbench", [str(npages), str(FORKS), strategy], **LIMIT)
    assert result.reason == "idle", text
    assert f"forkbench: {npages} pages, {FORKS} forks ({strategy})" in text, text
    assert "panic" not in text, text
    total = k.stats.total
    return {key: total.get(key, 0) for key in ("fork.calls", "fork.traps", "fork.syscalls")}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fork_counters_count_each_fork(run_program, strategy):
    counts = fork_counts(run_program, strategy, 64)
    assert counts["fork.calls"] == FORKS, counts
    assert counts["fork.syscalls"] >= counts["fork.calls"], counts
    if strategy == "kernel":
        assert counts["fork.traps"] == FORKS, counts  # one trap per fork: sys_fork
        assert counts["fork.syscalls"] == FORKS, counts
    elif strategy == "batch":
        assert counts["fork.traps"] / FORKS <= 4, counts
        assert counts["fork.syscalls"] / FORKS > 128, counts  # the calls inside the batches
    elif strategy == "cow":
        assert counts["fork.syscalls"] / FORKS > 128, counts  # two page_maps per page
        assert counts["fork.traps"] / FORKS > 128, counts
    else:
        assert counts["fork.traps"] / FORKS > 3 * 64, counts  # alloc, map, unmap per page


def test_fork_counters_order_of_strategies(run_program):
    traps = {s: fork_counts(run_program, s, 64)["fork.traps"] for s in STRATEGIES}
    assert traps["kernel"] < traps["batch"] < traps["cow"] < traps["dumb"], traps


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fork_counters_deterministic(run_program, run_programs, strategy):
    first = fork_counts(run_program, strategy, 64)
    _text, k, result = run_programs(["forkbench"], ["64", str(FORKS), strategy], **LIMIT)
    assert result.reason == "idle"
    second = {key: k.stats.total.get(key, 0) for key in first}
    assert first == second
    memo = run_program("forkbench", ["64", str(FORKS), strategy], **LIMIT)
    assert memo[1].stats.total == k.stats.total


# extra fork.traps per fork for each extra writable page: cow maps it into the
# child and back into the parent, dumb allocates UTEMP, maps it to the child
# and unmaps it; batch and kernel do it in the same number of traps.
TRAPS_PER_PAGE = {"dumb": 3, "cow": 2, "batch": 0, "kernel": 0}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_fork_traps_per_extra_page(run_program, strategy):
    small = fork_counts(run_program, strategy, 16)
    large = fork_counts(run_program, strategy, 32)
    diff = large["fork.traps"] - small["fork.traps"]
    assert diff % FORKS == 0, (small, large)
    assert diff // FORKS == 16 * TRAPS_PER_PAGE[strategy], (small, large)


# --- the command line -------------------------------------------------------------------------
def test_cli_fork_kernel_forktree():
    proc = pyjos_cli("run", "--fork", "kernel", "forktree")
    assert proc.returncode == 0, proc.stderr
    first = proc.stdout.splitlines()[0]
    assert first.startswith("# ") and ", fork kernel," in first, first
    nodes = re.findall(r"^[0-9a-f]{4}: I am '([01]*)'$", proc.stdout, re.M)
    assert sorted(nodes) == sorted(FORKTREE_NODES), proc.stdout
    assert "panic" not in proc.stdout


def test_cli_fork_default_is_cow():
    proc = pyjos_cli("run", "hello")
    assert proc.returncode == 0, proc.stderr
    assert ", fork cow," in proc.stdout.splitlines()[0]


def test_cli_fork_bogus():
    proc = pyjos_cli("run", "--fork", "bogus", "forktree")
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    assert "bogus" in proc.stderr and "new env" not in proc.stdout
