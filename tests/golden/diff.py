"""What changed between two golden files (after regenerating with capture.py).

    python3 tests/golden/diff.py OLD.json NEW.json [--only COUNTER]

prints each difference (case/field/.../key: old -> new) and the cases that
changed; with --only, exits 1 if anything other than counter COUNTER changed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator


def differences(old, new, path: tuple = ()) -> Iterator[tuple[tuple, object, object]]:
    """(path, old value, new value) of every leaf that differs (None: absent)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            yield from differences(old.get(key), new.get(key), (*path, key))
    elif old != new:
        yield path, old, new


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old")
    parser.add_argument("new")
    parser.add_argument("--only", metavar="COUNTER", help="the one counter allowed to change")
    args = parser.parse_args()
    with open(args.old) as f_old, open(args.new) as f_new:
        diffs = list(differences(json.load(f_old), json.load(f_new)))
    for path, old, new in diffs:
        print(f"{'/'.join(path)}: {old} -> {new}")
    others = [d for d in diffs if args.only and d[0][-1] != args.only]
    print(f"{len(diffs)} differences in {len({d[0][0] for d in diffs})} cases: "
          f"{', '.join(sorted({d[0][0] for d in diffs}))}")
    if others:
        print(f"{len(others)} differences are not of {args.only}")
    return 1 if others else 0


if __name__ == "__main__":
    raise SystemExit(main())
