"""`pyjos grade`, `pyjos init`, `pyjos run --jos` and a program's own library functions.

The graders run the bundled programs once per module (lab 4 on two worker
processes, lab 3 in this process).  Tests whose JOS lines this kernel does
not print yet are strict xfails naming the missing line: they flip to XPASS
(and fail) once the kernel prints it, so the marker must then go.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from pyjos.guest.build import GUEST_DIR, BuildError, build_jos_program
from pyjos.tools import grade as grader
from pyjos.tools import skeleton
from pyjos.tools.cli import main
from pyjos.tools.labs import LAB3, LAB4, LABS, LabTest

HERE = Path(__file__).parent
GUEST = HERE / "guest"
STUDENT_FORK = HERE / "data" / "jos_fork" / "fork.c"
MAKE_RUNNABLE = "\tif ((r = sys_env_set_status(child, ENV_RUNNABLE)) < 0)\t/* MAKE_RUNNABLE */\n" \
                "\t\tpanic(\"fork: set status: %e\", r);\n"

INCOMING = "--console lab3's `Incoming TRAP frame at 0xefffffbc` (the kernel-stack frame)"
BANNER = ("`Welcome to the JOS kernel monitor!` when the only env is destroyed "
          "(lab 3: `Destroyed the only environment - nothing more to do!` then the monitor)")
# What each test that fails on the bundled programs needs from the kernel,
# and the patterns that are then MISSING (nothing else may be).
NEEDS = {
    "lab4": {},  # lab 4 passes whole (CPUS= from KernelConfig.cpus)
    "lab3": {},  # lab 3 passes whole with --console lab3
}


def _graded(lab: str, jobs: int) -> tuple[dict[str, grader.Outcome], list[str]]:
    lines: list[str] = []
    outcomes = grader.grade(lab, list(LABS[lab]), None, jobs, show=lines.append)
    return {o.name: o for o in outcomes}, lines


@pytest.fixture(scope="module")
def lab4() -> tuple[dict[str, grader.Outcome], list[str]]:
    return _graded("lab4", 2)


@pytest.fixture(scope="module")
def lab3() -> tuple[dict[str, grader.Outcome], list[str]]:
    return _graded("lab3", 1)


# --- the test tables -----------------------------------------------------------------------
def test_tables_have_jos_names_points_parts_and_cpus() -> None:
    assert [t.name for t in LAB3] == [
        "divzero", "softint", "badsegment", "faultread", "faultreadkernel", "faultwrite",
        "faultwritekernel", "breakpoint", "testbss", "hello", "buggyhello", "buggyhello2",
        "evilhello"]
    assert [(t.part, t.points) for t in LAB3] == [("A", 10)] * 3 + [("B", 5)] * 10
    assert [t.name for t in LAB4] == [
        "dumbfork", "faultread", "faultwrite", "faultdie", "faultregs", "faultalloc",
        "faultallocbad", "faultnostack", "faultbadhandler", "faultevilhandler", "forktree",
        "spin", "stresssched", "sendpage", "pingpong", "primes"]
    assert [t.part for t in LAB4] == ["A"] + ["B"] * 10 + ["C"] * 5
    assert all(t.points == 5 for t in LAB4)
    assert {t.name: t.cpus for t in LAB4 if t.cpus != 1} == {
        "stresssched": 4, "sendpage": 2, "pingpong": 4, "primes": 4}
    for tests in LABS.values():
        assert sum(t.points for t in tests) == 80
        assert all((GUEST_DIR / "user" / f"{t.program}.c").is_file() for t in tests)


# --- gradelib's matching ---------------------------------------------------------------------
def test_match_is_at_line_start_and_reports_good_bad_missing() -> None:
    test = LabTest("x", "A", 5, required=("hello, world", "b+ye"), forbidden=("oops",))
    text = "\n".join(["one", "two", "say hello, world", "hello, world!", "three",
                      "four", "five", "six", "oops here", "seven"])
    missing, bad, report = grader.match(text, test)
    assert missing == ["b+ye"]
    assert bad == ["oops here"]
    assert "GOOD hello, world!" in report and "     say hello, world" in report
    assert "BAD  oops here" in report
    assert report[-2:] == ["unexpected lines in output", "MISSING 'b+ye'"]
    assert grader.match("hello, world\nbbye\n", test) == ([], [], [])


# --- the bundled programs ----------------------------------------------------------------------
def _needs_kernel(lab: str) -> list:
    return [pytest.param(t.name, marks=pytest.mark.xfail(
                strict=True, reason=f"needs kernel: {NEEDS[lab][t.name][0]}"))
            if t.name in NEEDS[lab] else t.name for t in LABS[lab]]


@pytest.mark.parametrize("name", _needs_kernel("lab4"))
def test_lab4_bundled(lab4, name: str) -> None:
    outcome = lab4[0][name]
    assert outcome.passed, "\n".join(outcome.report)


@pytest.mark.parametrize("name", _needs_kernel("lab3"))
def test_lab3_bundled(lab3, name: str) -> None:
    outcome = lab3[0][name]
    assert outcome.passed, "\n".join(outcome.report)


@pytest.mark.parametrize("lab", ["lab3", "lab4"])
def test_bundled_failures_miss_only_the_kernels_lines(lab3, lab4, lab: str) -> None:
    outcomes = (lab3 if lab == "lab3" else lab4)[0]
    for name, outcome in outcomes.items():
        if not outcome.passed:
            assert name in NEEDS[lab], "\n".join(outcome.report)
            assert outcome.missing == NEEDS[lab][name][1] and not outcome.bad, outcome.report
            assert outcome.report[-1] == f"MISSING '{outcome.missing[-1]}'"


def test_lab4_scores_80(lab4) -> None:
    assert lab4[1][-1] == "Part C score: 25/25\n"
    assert grader.summary("lab4", list(lab4[0].values()))["score"] == 80


def test_lab3_scores_80(lab3) -> None:
    assert grader.summary("lab3", list(lab3[0].values()))["score"] == 80


def test_table_lines_parts_and_stop_rules(lab4) -> None:
    outcomes, lines = lab4
    assert lines[0].startswith("dumbfork: OK (") and lines[0].endswith("s)")
    assert lines[1] == "Part A score: 5/5\n"
    assert sum(line.startswith("Part ") for line in lines) == 3
    assert outcomes["primes"].reason == "stop-line"  # stop_on_line("CPU .: 1877")
    assert outcomes["dumbfork"].reason == "idle"


def test_divzero_as_handed_out_traps(run_programs, grade) -> None:
    text, _k, _r = run_programs([str(GUEST / "grade_divzero.c")])
    grade(text, required=[r"  trap 0x00000000 Divide error", r"\[00001000\] free env 00001000"],
          forbidden=[r"1/0 is .*"])


def test_a_programs_own_fork_wins(run_programs) -> None:
    text, _k, result = run_programs([str(GUEST / "grade_ownfork.c")])
    assert result.reason == "idle"
    assert "my own fork\nfork returned 1234; sfork is linked\n" in text


def test_budget_stops_a_program_that_never_ends(tmp_path: Path) -> None:
    from pyjos.guest.build import build_program

    elf = build_program(str(GUEST / "grade_forever.c"))
    test = LabTest("forever", "A", 5, required=("running for ever", "never printed"),
                   budget=200_000)
    outcome = grader.run_test(test, str(elf), "lab4")
    assert outcome.reason == "max-insns" and not outcome.passed
    assert outcome.missing == ["never printed"]
    assert any("budget of 200,000 instructions" in n for n in outcome.notes)


# --- the command line ----------------------------------------------------------------------------
def test_cli_json_and_exit_status(capsys) -> None:
    assert main(["grade", "lab4", "--only", "dumbfork", "faultdie", "-j", "1", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["score"], result["possible"]) == (10, 10)
    assert result["parts"] == {"A": {"score": 5, "possible": 5}, "B": {"score": 5, "possible": 5}}
    assert [t["name"] for t in result["tests"]] == ["dumbfork", "faultdie"]


def test_cli_failing_test_prints_missing_and_exits_1(norun_tree: Path, capsys) -> None:
    assert main(["grade", "lab4", "--jos", str(norun_tree), "--only", "spin", "-j", "1"]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("spin: FAIL")
    assert "    MISSING 'I am the child.  Spinning...'" in out
    assert out[-1] == "Score: 0/5"


@pytest.mark.parametrize("argv, code, message", [
    (["grade", "lab4", "--only", "nosuch"], 2, "pyjos: no test 'nosuch' in lab4 (tests: dumbfork,"),
    (["grade", "lab4", "--jos", "{tmp}/nolib"], 1,
     "pyjos: JOS tree {tmp}/nolib has no lib/ directory ({tmp}/nolib/lib is missing)"),
    (["run", "-q", "--jos", "{tmp}/nolib", "hello"], 1,
     "pyjos: JOS tree {tmp}/nolib has no lib/ directory ({tmp}/nolib/lib is missing)"),
    (["run", "-q", "--jos", "{tmp}/noentry", "hello"], 1,
     "pyjos: JOS tree {tmp}/noentry is incomplete: the library entry point "
     "{tmp}/noentry/lib/entry.S is missing"),
    (["grade", "lab4", "--jos", "{tmp}/absent"], 1, "pyjos: JOS tree {tmp}/absent is not a directory"),
])
def test_cli_bad_input_is_one_line(tmp_path: Path, capsys, argv, code, message) -> None:
    (tmp_path / "nolib" / "inc").mkdir(parents=True)
    (tmp_path / "noentry" / "inc").mkdir(parents=True)
    (tmp_path / "noentry" / "lib").mkdir()
    assert main([a.format(tmp=tmp_path) for a in argv]) == code
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1 and err[0].startswith(message.format(tmp=tmp_path))


def test_init_refuses_a_nonempty_directory(tmp_path: Path, capsys) -> None:
    (tmp_path / "file").write_text("x")
    assert main(["init", str(tmp_path)]) == 1
    assert capsys.readouterr().err == f"pyjos: init: {tmp_path} already exists and is not an empty directory\n"


# --- your own JOS tree ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def skeleton_tree(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("jos") / "lab"
    assert main(["init", str(dest)]) == 0
    return dest


def _student_tree(tmp_path_factory, skeleton_tree: Path, fork_c: str) -> Path:
    """The skeleton with the exercises done: pyjos's own pgfault.c, pfentry.S and
    ipc.c, and fork_c as lib/fork.c."""
    dest = tmp_path_factory.mktemp("student") / "lab"
    shutil.copytree(skeleton_tree, dest)
    for name in ("pgfault.c", "pfentry.S", "ipc.c"):
        shutil.copyfile(GUEST_DIR / "lib" / name, dest / "lib" / name)
    (dest / "lib" / "fork.c").write_text(fork_c)
    return dest


@pytest.fixture(scope="module")
def student_tree(tmp_path_factory, skeleton_tree) -> Path:
    return _student_tree(tmp_path_factory, skeleton_tree, STUDENT_FORK.read_text())


@pytest.fixture(scope="module")
def norun_tree(tmp_path_factory, skeleton_tree) -> Path:
    good = STUDENT_FORK.read_text()
    assert MAKE_RUNNABLE in good
    return _student_tree(tmp_path_factory, skeleton_tree, good.replace(MAKE_RUNNABLE, ""))


def _grade_tree(tree: Path, *names: str) -> dict[str, grader.Outcome]:
    tests = [t for t in LAB4 if t.name in names]
    return {o.name: o for o in grader.grade("lab4", tests, tree, 2, show=lambda _line: None)}


def test_init_writes_the_exercises_and_the_lab_programs(skeleton_tree: Path) -> None:
    assert skeleton.exercises() == ["fork.c", "ipc.c", "pfentry.S", "pgfault.c"]
    fork_c = (skeleton_tree / "lib" / "fork.c").read_text()
    assert "panic(\"fork not implemented" in fork_c and "ENV_RUNNABLE" in fork_c
    assert (skeleton_tree / "lib" / "entry.S").is_file()
    assert sorted(p.stem for p in (skeleton_tree / "user").glob("*.c")) == sorted(
        {t.program for tests in LABS.values() for t in tests})


def test_skeleton_fails_what_needs_the_exercises(skeleton_tree: Path) -> None:
    outcomes = grader.grade("lab4", list(LAB4), skeleton_tree, 2, show=lambda _line: None)
    passed = {o.name for o in outcomes if o.passed}
    # Only what the kernel alone does: dumbfork, the user faults and the bad-upcall checks.
    assert passed == {"dumbfork", "faultread", "faultwrite", "faultnostack", "faultbadhandler",
                      "faultevilhandler"}
    forktree = next(o for o in outcomes if o.name == "forktree")
    assert any("fork not implemented (lib/fork.c)" in line for line in forktree.report)
    assert "MISSING '....: I am .0.'" in forktree.report


def test_student_fork_passes_the_fork_tests(student_tree: Path) -> None:
    outcomes = _grade_tree(student_tree, "forktree", "spin", "faultalloc", "pingpong")
    assert all(o.passed for o in outcomes.values()), {n: o.report for n, o in outcomes.items()}


def test_fork_that_never_starts_the_child_fails_with_missing_lines(norun_tree: Path) -> None:
    outcomes = _grade_tree(norun_tree, "forktree", "spin", "dumbfork")
    assert outcomes["dumbfork"].passed  # dumbfork forks with its own code
    forktree, spin = outcomes["forktree"], outcomes["spin"]
    assert not forktree.passed and not spin.passed
    assert "MISSING '....: I am .0.'" in forktree.report
    assert "MISSING '....: I am .1.'" in forktree.report
    assert "MISSING 'I am the child.  Spinning...'" in spin.report


def test_compile_error_in_the_tree_names_the_file(tmp_path: Path, skeleton_tree: Path, capsys) -> None:
    tree = tmp_path / "lab"
    shutil.copytree(skeleton_tree, tree)
    (tree / "lib" / "fork.c").write_text("#include <inc/lib.h>\nenvid_t fork(void) { return x; }\n")
    assert main(["grade", "lab4", "--jos", str(tree), "--only", "forktree", "dumbfork", "-j", "1"]) == 1
    out = capsys.readouterr().out
    assert "forktree: FAIL" in out and "dumbfork: FAIL" in out
    assert "build of libjos (fork.c) failed:" in out
    assert f"{tree.resolve()}/lib/fork.c:2:" in out and "error" in out


def test_run_jos_with_fork_strategy(tmp_path: Path, student_tree: Path, capfd) -> None:
    tree = tmp_path / "lab"
    shutil.copytree(student_tree, tree)
    shutil.copyfile(GUEST / "grade_strategy.c", tree / "user" / "strategy.c")
    assert main(["run", "-q", "--jos", str(tree), "--fork", "kernel", "strategy"]) == 0
    assert "fork strategy 3\n" in capfd.readouterr().out
    with pytest.raises(BuildError, match="undefined reference to `pyjos_fork_strategy'"):
        build_jos_program("strategy", tree)  # only --fork adds it
