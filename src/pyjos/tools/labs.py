"""The tests of MIT 6.828's (2018) grade-lab3 and grade-lab4, as data.

Each test names the program it runs, its points and part, the CPUS= setting
of JOS's make run, the lines that must appear (`required`) and must not
(`forbidden`), and the lines on which JOS's grader stops the machine early
(`stop_on`).  Patterns are Python regular expressions matched at the start
of each console line (re.match, as JOS's gradelib does; `.` stands for any
character, so `.00001000.` matches `[00001000]`).  Every run also stops
when the kernel enters the monitor (JOS stops at `readline`).

`budget` replaces JOS's wall-clock timeout (30 s, primes 60 s): a run stops
once at least this many guest instructions have run (counted in time
slices of basic blocks, see Kernel.run), so a loaded machine never fails a
test.  The bundled library needs about 6 million blocks for primes to 1877
and 5 million for stresssched; a real student solution whose fork walks
every page below USTACKTOP one by one needed 27 million for forktree and
650 million (and 20 million system calls) for primes, which JOS's 60 s on
QEMU allow, so the budgets are 200 million and, for primes, 1 billion.
`pyjos grade --budget-scale N` multiplies them.
"""

from __future__ import annotations

from dataclasses import dataclass

BUDGET = 200_000_000
PRIMES_BUDGET = 1_000_000_000


@dataclass(frozen=True)
class LabTest:
    """One test of a lab's grader."""

    name: str
    part: str
    points: int
    required: tuple[str, ...]
    forbidden: tuple[str, ...] = ()
    cpus: int = 1
    stop_on: tuple[str, ...] = ()
    budget: int = BUDGET

    @property
    def program(self) -> str:
        """The user program the test runs (user/NAME.c)."""
        return self.name


def env(n: int) -> str:
    """The id of the n'th user environment (1 = 00001000), as the kernel prints it."""
    return f"{0x1000 + n - 1:08x}"


def short(n: int) -> str:
    """env(n) without leading zeros, as programs print ids with %x."""
    return f"{0x1000 + n - 1:x}"


def _t(name: str, part: str, points: int, *required: str, **kw) -> LabTest:
    return LabTest(name, part, points, tuple(required), **kw)


E1, E2 = env(1), env(2)
FREE1 = f".{E1}. free env {E1}"
EXIT1 = f".{E1}. exiting gracefully"
EXIT2 = f".{E2}. exiting gracefully"
FREE2 = f".{E2}. free env {E2}"

# --- lab 3: user environments, traps, system calls ------------------------------------
_INCOMING = "Incoming TRAP frame at 0xefffffbc"
_FRAME3 = "TRAP frame at 0xf......."
_EIP = "  eip  0x008....."
_SS = "  ss   0x----0023"
_FREE3 = f".{E1}. free env 0000100"  # lab 3 accepts any env id of this form here


def _fault3(name: str, va: str, err: str, free: str = _FREE3, *,
            forbidden: tuple[str, ...] = ()) -> LabTest:
    """A lab-3 page-fault test: the fault line, both trap-frame headers, the error code."""
    return _t(name, "B", 5, f".{E1}. user fault va {va} ip 008.....", _INCOMING, _FRAME3,
              "  trap 0x0000000e Page Fault", f"  err  0x0000000{err}.*", free,
              forbidden=forbidden)


LAB3: tuple[LabTest, ...] = (
    _t("divzero", "A", 10, "Incoming TRAP frame at 0xefffff..", _FRAME3,
       "  trap 0x00000000 Divide error", _EIP, _SS, FREE1, forbidden=("1/0 is ........!",)),
    _t("softint", "A", 10, "Welcome to the JOS kernel monitor!", _INCOMING, _FRAME3,
       "  trap 0x0000000d General Protection", _EIP, _SS, _FREE3),
    _t("badsegment", "A", 10, _INCOMING, _FRAME3, "  trap 0x0000000d General Protection",
       "  err  0x00000028", _EIP, _SS, _FREE3),
    _fault3("faultread", "00000000", "4", forbidden=("I read ........ from location 0!",)),
    _fault3("faultreadkernel", "f0100000", "5", FREE1,
            forbidden=("I read ........ from location 0xf0100000!",)),
    _fault3("faultwrite", "00000000", "6"),
    _fault3("faultwritekernel", "f0100000", "7"),
    _t("breakpoint", "B", 5, "Welcome to the JOS kernel monitor!", _INCOMING, _FRAME3,
       "  trap 0x00000003 Breakpoint", _EIP, _SS, forbidden=(FREE1,)),
    _t("testbss", "B", 5, "Making sure bss works right...",
       "Yes, good.  Now doing a wild write off the end...",
       f".{E1}. user fault va 00c..... ip 008.....", _FREE3),
    _t("hello", "B", 5, f".00000000. new env {E1}", "hello, world", f"i am environment {E1}",
       EXIT1, FREE1, "Destroyed the only environment - nothing more to do!"),
    _t("buggyhello", "B", 5, f".{E1}. user_mem_check assertion failure for va 00000001", FREE1),
    _t("buggyhello2", "B", 5, f".{E1}. user_mem_check assertion failure for va 0....000", FREE1,
       forbidden=("hello, world",)),
    _t("evilhello", "B", 5, f".{E1}. user_mem_check assertion failure for va f0100...", FREE1),
)

# --- lab 4: fork, page-fault upcalls, preemption, IPC ----------------------------------
_FRAME4 = "TRAP frame at 0xf....... from CPU ."


def _mem_check(name: str, va: str) -> LabTest:
    """A lab-4 test of a bad upcall setup: the kernel's user_mem_check line, then the free."""
    return _t(name, "B", 5, f".{E1}. user_mem_check assertion failure for va {va}", FREE1)


def _fault4(name: str, err: str, *, forbidden: tuple[str, ...] = ()) -> LabTest:
    return _t(name, "B", 5, f".{E1}. user fault va 00000000 ip 008.....", _FRAME4,
              "  trap 0x0000000e Page Fault", f"  err  0x0000000{err}.*", FREE1,
              forbidden=forbidden)


LAB4: tuple[LabTest, ...] = (
    _t("dumbfork", "A", 5, f".00000000. new env {E1}", f".{E1}. new env {E2}",
       "0: I am the parent.", "9: I am the parent.", "0: I am the child.",
       "9: I am the child.", "19: I am the child.", EXIT1, FREE1, EXIT2, FREE2),
    _fault4("faultread", "4", forbidden=("I read ........ from location 0.",)),
    _fault4("faultwrite", "6"),
    _t("faultdie", "B", 5, "i faulted at va deadbeef, err 6", EXIT1, FREE1),
    _t("faultregs", "B", 5, "Registers in UTrapframe OK", "Registers after page-fault OK",
       forbidden=("Registers in UTrapframe MISMATCH", "Registers after page-fault MISMATCH")),
    _t("faultalloc", "B", 5, "fault deadbeef", "this string was faulted in at deadbeef",
       "fault cafebffe", "fault cafec000", "this string was faulted in at cafebffe",
       EXIT1, FREE1),
    _mem_check("faultallocbad", "deadbeef"),
    _mem_check("faultnostack", "eebfff.."),
    _mem_check("faultbadhandler", "(deadb|eebfe)..."),
    _mem_check("faultevilhandler", "(f0100|eebfe)..."),
    _t("forktree", "B", 5, *(f"....: I am .{who}." for who in
                             ("0", "1", "000", "100", "110", "111", "011", "001")),
       EXIT1, EXIT2, ".0000200.. exiting gracefully", ".0000200.. free env 0000200."),
    _t("spin", "C", 5, f".00000000. new env {E1}", "I am the parent.  Forking the child...",
       f".{E1}. new env {E2}", "I am the parent.  Running the child...",
       "I am the child.  Spinning...", "I am the parent.  Killing the child...",
       f".{E1}. destroying {E2}", f".{E1}. free env {E2}", EXIT1, FREE1),
    _t("stresssched", "C", 5, *(f".000010... stresssched on CPU {cpu}" for cpu in range(4)),
       forbidden=(".*ran on two CPUs at once",), cpus=4),
    _t("sendpage", "C", 5, ".00000000. new env 00001000", f".00000000. new env {E1}",
       f".{E1}. new env {E2}",
       f"{short(1)} got message: hello child environment! how are you?",
       "child received correct message",
       f"{short(2)} got message: hello parent environment! I'm good",
       "parent received correct message", EXIT1, FREE1, EXIT2, FREE2, cpus=2),
    _t("pingpong", "C", 5, f".00000000. new env {E1}", f".{E1}. new env {E2}",
       f"send 0 from {short(1)} to {short(2)}", f"{short(2)} got 0 from {short(1)}",
       f"{short(1)} got 1 from {short(2)}", f"{short(2)} got 8 from {short(1)}",
       f"{short(1)} got 9 from {short(2)}", f"{short(2)} got 10 from {short(1)}",
       EXIT1, FREE1, EXIT2, FREE2, cpus=4),
    _t("primes", "C", 5, f".00000000. new env {E1}", f".{E1}. new env {E2}",
       *(f"CPU .: {p} .{env(i + 2)}. new env {env(i + 3)}"
         for i, p in enumerate((2, 3, 5, 7, 11))),
       f"CPU .: 1877 .{env(289)}. new env {env(290)}",
       stop_on=("CPU .: 1877", ".*panic"), cpus=4, budget=PRIMES_BUDGET),
)

LABS: dict[str, tuple[LabTest, ...]] = {"lab3": LAB3, "lab4": LAB4}
