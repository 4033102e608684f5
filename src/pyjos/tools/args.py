"""argparse types shared by the subcommands: bounded integers, lists, names.

Every numeric option is bounded, and each error says the bound.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from ..kernel.pmap import MAX_MEM, MIN_MEM

MEM_MIB = (MIN_MEM >> 20, MAX_MEM >> 20)  # the memory --mem (and api.boot) accept, in MiB


def mib(text: str) -> int:
    value = int(text)
    if not MEM_MIB[0] <= value <= MEM_MIB[1]:
        raise argparse.ArgumentTypeError(f"memory must be {MEM_MIB[0]} to {MEM_MIB[1]} MiB")
    return value


def bounded(lo: int, hi: int) -> Callable[[str], int]:
    """An argparse type: an integer from lo to hi (said in the error)."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"must be from {lo:,} to {hi:,} (got {text})")
        return value
    return parse


MAX_QUANTUM = 10**9  # a slice longer than this would hold the CPU for minutes
MAX_INSNS = 10**15
MAX_COUNT = 10**8  # iterations, fuzz calls
MAX_FORK_PAGES = 131072  # bench fork --pages: 512 MiB, what 1 GiB can fork


def int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a comma-separated list of integers: {text!r}") from None
    if any(v < 0 or v > MAX_FORK_PAGES for v in values):
        raise argparse.ArgumentTypeError(f"page counts must be 0 to {MAX_FORK_PAGES}")
    return values


def names(kind: str, valid: tuple[str, ...]) -> Callable[[str], list[str]]:
    """An argparse type: a comma-separated list of names from `valid`."""
    def parse(text: str) -> list[str]:
        names = text.split(",")
        for name in names:
            if name not in valid:
                raise argparse.ArgumentTypeError(
                    f"unknown {kind} {name!r} (choose from {', '.join(valid)})")
        return names
    return parse
