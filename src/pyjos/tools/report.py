"""Benchmark output: tables, CSV, the fork plot, a progress line."""

from __future__ import annotations

import csv
import sys
from pathlib import Path

FORK_COLUMNS = (
    ("strategy", "strategy", "s"),
    ("traps_per_fork", "traps", ".1f"),
    ("syscalls_per_fork", "syscalls", ".1f"),
    ("faults_per_fork", "faults", ".1f"),
    ("pages_copied_per_fork", "copied", ".1f"),
    ("pte_writes_per_fork", "PTE writes", ".1f"),
    ("tlb_flushes_per_fork", "TLB flush", ".1f"),
    ("ms_per_fork_min", "ms min", ".3f"),
    ("ms_per_fork", "ms median", ".3f"),
    ("ms_per_fork_cycle", "ms cycle", ".3f"),
)


def fork_tables(rows: list[dict[str, object]]) -> str:
    """One table per N: a row per strategy, the counts per fork, wall times
    and modelled cycles (columns `cycles <model>`)."""
    models = list(rows[0]["model_cycles"]) if rows else []
    heads = [title for _k, title, _f in FORK_COLUMNS] + [f"cyc {m}" for m in models]
    out = []
    for n in sorted({int(r["pages"]) for r in rows}):
        out.append(f"N = {n} extra pages")
        out.append("  ".join(f"{h:>10s}" for h in heads))
        for row in (r for r in rows if int(r["pages"]) == n):
            cells = [f"{row[k]:>10{f}}" for k, _t, f in FORK_COLUMNS]
            cells += [f"{row['model_cycles'][m]:>10.0f}" for m in models]
            out.append("  ".join(cells))
        out.append("")
    out.append("traps, syscalls, ms min/median: the fork call; faults, copied, PTE writes, "
               "TLB flushes, ms cycle, cyc: the whole fork cycle (child's life included)")
    return "\n".join(out)


def flat_row(row: dict[str, object]) -> dict[str, object]:
    """A row with model_cycles spread into model_cycles_<name> columns."""
    flat = {k: v for k, v in row.items() if k != "model_cycles"}
    for name, value in dict(row.get("model_cycles", {})).items():
        flat[f"model_cycles_{name}"] = value
    return flat


def write_csv(rows: list[dict[str, object]], path: Path) -> None:
    """The rows as CSV, one line per strategy and N."""
    flat = [flat_row(r) for r in rows]
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(flat[0]))
        writer.writeheader()
        writer.writerows(flat)


def write_fork_plot(rows: list[dict[str, object]], path: Path, model: str) -> None:
    """Two panels, log axes: modelled cycles per fork against N for each
    strategy (under `model`), and traps per fork call against N."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (cost, traps) = plt.subplots(1, 2, figsize=(11, 4.5))
    for strategy in dict.fromkeys(str(r["strategy"]) for r in rows):
        mine = sorted((r for r in rows if r["strategy"] == strategy), key=lambda r: r["pages"])
        xs = [int(r["pages"]) for r in mine]
        cost.plot(xs, [r["model_cycles"][model] for r in mine], marker="o", label=strategy)
        traps.plot(xs, [max(float(r["traps_per_fork"]), 0.5) for r in mine], marker="o",
                   label=strategy)
    for ax, title, ylabel in ((cost, f"fork cost (model {model})", "cycles per fork (whole cycle)"),
                              (traps, "traps per fork call", "traps")):
        ax.set_xscale("symlog", linthresh=16)
        ax.set_yscale("log")
        ax.set_xlabel("N extra pages in the forking process")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def progress_line(done: int, total: int, what: str) -> None:
    """A progress bar on stderr, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what:<24s}{end}")
    sys.stderr.flush()


def suite_table(rows: list[dict[str, object]]) -> str:
    """The `pyjos bench` suite: figure, pyjos, JOS under QEMU, ratio."""
    out = [f"{'benchmark':<34s} {'pyjos':>12s} {'JOS/QEMU':>14s} {'ratio':>7s}"]
    for r in rows:
        ref, unit = r.get("reference"), str(r["unit"])
        if ref is None:
            ref_s = "-"
        else:
            ref_s = (f"{ref[0]}-{ref[1]}" if isinstance(ref, list) else f"{ref}") + f" {unit}"
        ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"
        out.append(f"{r['name']:<34s} {r['value']:>9.3f} {unit:<2s} {ref_s:>14s} {ratio:>7s}")
    out.append("ratio: pyjos / JOS under QEMU on this machine class (the low end of a range)")
    return "\n".join(out)
