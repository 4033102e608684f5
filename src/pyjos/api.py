"""The Python API: boot a pyjos machine, run programs, look inside (docs/api.md).

    >>> from pyjos.api import boot
    >>> system = boot(fork="cow")
    >>> system.spawn("hello")
    4096
    >>> system.run().reason
    'idle'
    >>> "hello, world" in system.console
    True

``boot`` takes the settings of ``pyjos run`` (the CLI is built on this
module); a ``System`` creates envs from bundled programs, ``.c`` files or ELF
bytes, runs to completion or for a number of time slices, and shows the
console, the counters, each env's status, registers and mappings, the frames
and who maps them, and the kernel's events to a callback.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from .abi import EnvStatus
from .guest.build import BuildError
from .guest.elf import ElfError
from .kernel import Kernel, KernelConfig, LoadError, RunResult
from .kernel.events import EVENTS, Event, Subscription
from .kernel.frames import env_mappings, frame_mappers, pp_ref
from .kernel.kernel import DEFAULT_MEM_MIB, DEFAULT_QUANTUM, MIB
from .kernel.kernel import _stdout_write as to_stdout  # echo= target: stdout, flushed
from .kernel.monitor import perm_string
from .kernel.pmap import MAX_MEM, MIN_MEM


@dataclass(frozen=True)
class EnvInfo:
    """One env as it is now: ids, status name, program, times it ran."""

    id: int
    parent: int
    status: str
    program: str
    runs: int


@dataclass(frozen=True)
class PageMapping:
    """One mapped user page: va, frame number, PTE bits (and as PWUCS letters)."""

    va: int
    frame: int
    perm: int
    bits: str


@dataclass(frozen=True)
class Frame:
    """A physical frame that envs map: number, pp_ref, and its mappings as
    (env id, va, bits) triples."""

    frame: int
    pp_ref: int
    mapped_by: tuple[tuple[int, int, str], ...]

    @property
    def envs(self) -> frozenset[int]:
        """The ids of the envs that map this frame."""
        return frozenset(env for env, _va, _bits in self.mapped_by)


class System:
    """A booted machine and what a script or notebook can do with it."""

    def __init__(self, config: KernelConfig, echo: Callable[[str], None] | None = None,
                 keep_console: bool = True) -> None:
        self._console: list[str] = []
        self._echo = echo
        self._keep = keep_console
        self.kernel = Kernel(config, out=self._out)

    def _out(self, text: str) -> None:
        if self._keep:
            self._console.append(text)
        if self._echo is not None:
            self._echo(text)

    # --- making envs ---------------------------------------------------------------
    def spawn(self, program: str | Path, args: Iterable[str] = ()) -> int:
        """A new env running a bundled program (by name) or a .c file (by
        path), with argv[1:] = args; its env id.  Raises BuildError, ElfError
        or LoadError with a one-line message."""
        return self.kernel.create_env(str(program), list(args))

    def spawn_elf(self, name: str, elf: bytes, args: Iterable[str] = ()) -> int:
        """A new env running an i386 ELF executable given as bytes; its env id."""
        return self.kernel.create_env_from_elf(name, elf, list(args))

    # --- running -------------------------------------------------------------------
    def run(self, slices: int | None = None) -> RunResult:
        """Run until no env can run (reason "idle"), or for at most `slices`
        time slices (reason "slices" when they ran out; run() again goes on
        where it stopped).  Other reasons: "monitor", "max-insns", "panic",
        "output-closed", "interrupted"."""
        if slices is None:
            return self.kernel.run()
        if slices <= 0:
            raise ValueError("slices must be a positive number")
        config = self.kernel.config
        limit = config.max_insns
        config.max_insns = slices * config.quantum
        try:
            result = self.kernel.run()
        finally:
            config.max_insns = limit
        if result.reason == "max-insns":
            return RunResult("slices", f"{slices} time slices ran", result.slices)
        return result

    # --- looking -----------------------------------------------------------------------
    @property
    def console(self) -> str:
        """Everything the machine printed so far."""
        return "".join(self._console)

    @property
    def stats(self) -> dict[str, int]:
        """The counters so far, summed over envs (--stats)."""
        return dict(sorted(self.kernel.stats.total.items()))

    def stats_per_env(self) -> dict[str, object]:
        """The counters as --stats-json writes them: total and per env id."""
        return self.kernel.stats.as_dict()

    def modelled(self, models: Iterable[str] = ("i386", "p4")) -> dict[str, dict[str, object]]:
        """The counters so far priced by the named cost models (i386, p4, host:
        calibrated now), as --stats --model prints them: per model, the cycles
        in all and per event, its clock and the ms at that clock
        (costmodel.priced).  ValueError for an unknown model."""
        from .tools.costmodel import get_models, priced

        return priced(self.kernel.stats.total, get_models(list(models)))

    def envs(self) -> list[EnvInfo]:
        """Every env that is not free, in envs[] order."""
        return [self._info(idx) for idx in self.kernel.envtab.live()]

    def env(self, envid: int) -> EnvInfo:
        """The env with this id (KeyError if there is none)."""
        return self._info(self._index(envid))

    def registers(self, envid: int) -> dict[str, int]:
        """The env's saved user registers (eax ... eip, eflags), from its
        env_tf: those of its last stop, as the run loop parks the running env."""
        tf = self.kernel.envs[self._index(envid)].env_tf
        regs = tf.tf_regs
        return {"eax": regs.reg_eax, "ebx": regs.reg_ebx, "ecx": regs.reg_ecx,
                "edx": regs.reg_edx, "esi": regs.reg_esi, "edi": regs.reg_edi,
                "ebp": regs.reg_ebp, "esp": tf.tf_esp, "eip": tf.tf_eip,
                "eflags": tf.tf_eflags}

    def mappings(self, envid: int) -> list[PageMapping]:
        """The env's present user pages (below UTOP), in address order."""
        return [PageMapping(m.va, m.ppn, m.perm, perm_string(m.perm))
                for m in env_mappings(self.kernel, self._index(envid))]

    def frames(self) -> dict[int, Frame]:
        """Every frame a live env maps: frame number -> Frame."""
        envs = self.kernel.envs
        return {ppn: Frame(ppn, pp_ref(self.kernel, ppn),
                           tuple((envs[m.env].env_id, m.va, perm_string(m.perm)) for m in maps))
                for ppn, maps in sorted(frame_mappers(self.kernel).items())}

    @property
    def free_pages(self) -> int:
        """Physical pages on the free list."""
        return self.kernel.pmap.nfree

    def subscribe(self, callback: Callable[[Event], None],
                  names: Iterable[str] | None = None) -> Subscription:
        """Call callback(event) for each kernel event named (None: every
        event; the names and meanings are ``pyjos.api.EVENTS``).  Returns a
        Subscription; its close() stops the calls."""
        return self.kernel.events.subscribe(callback, names)

    # --- helpers -------------------------------------------------------------------------
    def _index(self, envid: int) -> int:
        r, idx = self.kernel.envtab.envid2env(envid, False, None)
        if r < 0 or envid == 0:
            raise KeyError(f"no env {envid:08x}")
        return idx

    def _info(self, idx: int) -> EnvInfo:
        e = self.kernel.envs[idx]
        prog = self.kernel.envtab.programs.get(idx)
        return EnvInfo(e.env_id, e.env_parent_id, EnvStatus(e.env_status).name,
                       prog.name if prog else "?", e.env_runs)


def boot(mem_mib: int = DEFAULT_MEM_MIB, quantum: int = DEFAULT_QUANTUM, max_insns: int = 0,
         fork: str | None = None, cow_faults: str = "user",
         monitor_input: Iterable[str] | None = None, console: str = "lab4",
         on_breakpoint: str = "stop", cpus: int = 1, seed: int | None = None,
         echo: Callable[[str], None] | None = None, keep_console: bool = True) -> System:
    """A booted machine with the settings of ``pyjos run`` (memory in MiB,
    time slice, instruction limit, fork strategy, who resolves copy-on-write
    faults, monitor command lines, which JOS kernel's console lines, what a
    user int3 does, CPUs, interleaving seed).  The console is kept
    (System.console; keep_console=False keeps nothing) and also passed to
    echo(text) if given.  ValueError for a bad setting."""
    if not MIN_MEM >> 20 <= mem_mib <= MAX_MEM >> 20:
        raise ValueError(f"memory must be {MIN_MEM >> 20} to {MAX_MEM >> 20} MiB")
    if quantum <= 0 or max_insns < 0:
        raise ValueError("quantum must be positive and max_insns zero or positive")
    if cow_faults not in ("user", "kernel"):
        raise ValueError(f"cow_faults must be 'user' or 'kernel', not {cow_faults!r}")
    config = KernelConfig(mem=mem_mib * MIB, quantum=quantum, max_insns=max_insns, fork=fork,
                          cow_faults=cow_faults, monitor_input=monitor_input, console=console,
                          on_breakpoint=on_breakpoint, cpus=cpus, seed=seed)
    return System(config, echo, keep_console)


__all__ = ["boot", "to_stdout", "System", "EnvInfo", "PageMapping", "Frame", "Event", "EVENTS", "RunResult",
           "BuildError", "ElfError", "LoadError"]
