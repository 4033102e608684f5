"""pyjos init: write a JOS lab-4 user tree for a student to complete.

The tree is pyjos's guest headers (inc/), its user library (lib/) with the
lab's exercises replaced by the files of skeleton/lib/ (the functions to
write, each with its contract, and stubs that panic), and the programs of
the lab 3 and lab 4 graders (user/).  `pyjos grade lab4 --jos DIR` builds
and grades that tree; the tests that need an unwritten function fail.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from ..guest.build import GUEST_DIR
from .labs import LABS

SKELETON_DIR = Path(__file__).parent / "skeleton"
EXIT_ERROR = 1


def exercises() -> list[str]:
    """The library files a student writes (their stubs are in skeleton/lib/)."""
    return sorted(p.name for p in (SKELETON_DIR / "lib").iterdir() if p.is_file())


def write_tree(dest: Path) -> list[Path]:
    """Write the skeleton tree into dest (which must not exist or be empty);
    return the files written.  Raises FileExistsError or OSError."""
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise FileExistsError(f"{dest} already exists and is not an empty directory")
    stubs = set(exercises())
    programs = sorted({t.program for tests in LABS.values() for t in tests})
    files = [(SKELETON_DIR / "README", Path("README"))]
    files += [(p, Path("inc") / p.name) for p in sorted((GUEST_DIR / "inc").glob("*.h"))]
    files += [(p, Path("lib") / p.name) for p in sorted((GUEST_DIR / "lib").iterdir())
              if p.suffix in (".c", ".S") and p.name not in stubs]
    files += [(SKELETON_DIR / "lib" / name, Path("lib") / name) for name in sorted(stubs)]
    files += [(GUEST_DIR / "user" / f"{name}.c", Path("user") / f"{name}.c") for name in programs]
    written = []
    for src, rel in files:
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest / rel)
        written.append(dest / rel)
    return written


def add_parser(sub) -> None:
    """Add `pyjos init` to the subcommands `sub`."""
    p = sub.add_parser("init", help="write a JOS lab-4 tree to complete and grade",
                       description="Write DIR: inc/, lib/ (with " + ", ".join(exercises())
                                   + " to write) and user/ (the lab 3 and 4 test programs). "
                                   "Then: pyjos grade lab4 --jos DIR.")
    p.add_argument("dir", type=Path, metavar="DIR", help="a new (or empty) directory")
    p.set_defaults(handler=cmd_init)


def cmd_init(ns: argparse.Namespace) -> int:
    try:
        written = write_tree(ns.dir)
    except OSError as e:
        print(f"pyjos: init: {e.strerror + ': ' + str(e.filename) if e.strerror else e}",
              file=sys.stderr)
        return EXIT_ERROR
    print(f"pyjos: wrote {len(written)} files to {ns.dir}; yours to write: "
          + ", ".join(f"lib/{name}" for name in exercises()))
    print(f"next: pyjos grade lab4 --jos {ns.dir}")
    return 0
