"""Layer 2, the kernel: JOS's kernel in Python (envs, memory, traps, system calls)."""

from .kernel import DEFAULT_MEM, DEFAULT_QUANTUM, FORK_STRATEGIES, Kernel, KernelConfig, RunResult
from .env import LoadError
from ..guest.elf import ElfError

__all__ = ["DEFAULT_MEM", "DEFAULT_QUANTUM", "FORK_STRATEGIES", "Kernel", "KernelConfig",
           "RunResult", "LoadError", "ElfError"]
