"""Benchmark output: tables, CSV, the fork plot, a progress line."""

from __future__ import annotations

import csv
import math
import sys
from collections.abc import Callable
from pathlib import Path

FORK_COLUMNS = (
    ("strategy", "strategy", "s"),
    ("traps_per_fork", "traps", ".1f"),
    ("syscalls_per_fork", "syscalls", ".1f"),
    ("faults_per_fork", "faults", ".1f"),
    ("pages_copied_per_fork", "copied", ".1f"),
    ("pte_writes_per_fork", "PTE writes", ".1f"),
    ("pt_pages_per_fork", "PT pages", ".1f"),
    ("tlb_flushes_per_fork", "TLB flush", ".1f"),
    ("ms_per_fork_min", "ms min", ".3f"),
    ("ms_per_fork", "ms median", ".3f"),
    ("ms_per_fork_cycle", "ms cycle", ".3f"),
    ("x_native_call", "x nat call", ".1f"),
    ("x_native_cycle", "x nat cyc", ".1f"),
)


def _cell(row: dict[str, object], key: str, fmt: str) -> str:
    value = row.get(key)
    if key.startswith("x_native_"):
        what = "ms_per_fork" if key == "x_native_call" else "ms_per_fork_cycle"
        ref = row.get(f"native_{what}")
        value = float(row[what]) / float(ref) if ref and what in row else None
    return f"{value:>10{fmt}}" if value is not None else f"{'-':>10s}"


def fork_tables(rows: list[dict[str, object]], native: list[dict[str, object]] = ()) -> str:
    """One table per N: a row per strategy, the counts per fork, wall times,
    how many times native's they are, and modelled cycles (`cyc <model>`);
    then the native row (host/forknative.c) where one was measured."""
    models = list(rows[0]["model_cycles"]) if rows else []
    heads = [title for _k, title, _f in FORK_COLUMNS] + [f"cyc {m}" for m in models]
    out = []
    for n in sorted({int(r["pages"]) for r in [*rows, *native]}):
        out.append(f"N = {n} extra pages")
        out.append("  ".join(f"{h:>10s}" for h in heads))
        for row in (r for r in [*rows, *native] if int(r["pages"]) == n):
            cells = [_cell(row, k, f) for k, _t, f in FORK_COLUMNS]
            cells += [f"{row['model_cycles'][m]:>10.0f}" if "model_cycles" in row else
                      f"{'-':>10s}" for m in models]
            out.append("  ".join(cells))
        out.append("")
    out.append("traps, syscalls, ms min/median: the fork call; faults, copied, PTE writes, "
               "PT pages (page-table pages made), TLB flushes, ms cycle, cyc: the whole fork "
               "cycle (child's life included); x nat: times native Linux's figure on this "
               "machine (the native row: fork, child exits, waitpid)")
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


def _positive_points(rows: list[dict[str, object]], pos: dict[int, int],
                     value: Callable[[dict[str, object]], float | None]) -> tuple[list, list]:
    """(x positions, values) of the rows whose value is a positive number (a
    cycle time taken as a difference of two runs can come out <= 0 in noise)."""
    xs, ys = [], []
    for row in sorted(rows, key=lambda r: int(r["pages"])):
        y = value(row)
        if y is not None and y > 0:
            xs.append(pos[int(row["pages"])])
            ys.append(y)
    return xs, ys


def write_fork_plot(rows: list[dict[str, object]], path: Path, model: str,
                    native: list[dict[str, object]] = ()) -> None:
    """Two panels over the measured N (evenly spaced, one tick at each).

    Left: speedup over cow fork of each strategy's whole cycle, measured
    (solid, its last point labelled with the strategy and its value) and modelled under `model`
    (dashed); above the 1x line is faster than cow.  Right: measured ms per
    fork cycle, with native Linux on this machine as the black reference line.
    Both y axes are logarithmic with plain-number labels.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    ns = sorted({int(r["pages"]) for r in [*rows, *native]})
    pos = {n: i for i, n in enumerate(ns)}
    cow = {int(r["pages"]): r for r in rows if r["strategy"] == "cow"}

    def ratio(key: Callable[[dict[str, object]], float]) -> Callable[[dict[str, object]], float | None]:
        def f(row: dict[str, object]) -> float | None:
            base = cow.get(int(row["pages"]))
            if base is None or key(row) <= 0:
                return None
            return key(base) / key(row)
        return f

    measured = ratio(lambda r: float(r["ms_per_fork_cycle"]))
    modelled = ratio(lambda r: float(r["model_cycles"][model]))
    fig, (speed, cost) = plt.subplots(1, 2, figsize=(13, 5.4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    handles = []
    ends: list[tuple[str, float, float, str]] = []  # label, x, y, color of each speedup line
    for i, strategy in enumerate(dict.fromkeys(str(r["strategy"]) for r in rows)):
        mine = [r for r in rows if r["strategy"] == strategy]
        color = colors[i % len(colors)]
        handles.append(Line2D([], [], color=color, marker="o", label=strategy))
        cost.plot(*_positive_points(mine, pos, lambda r: float(r["ms_per_fork_cycle"])),
                  marker="o", color=color)
        if strategy == "cow":
            continue
        xs, ys = _positive_points(mine, pos, measured)
        speed.plot(xs, ys, marker="o", color=color)
        if xs:  # the strategy's name and its speedup at the largest N measured
            ends.append((f"{strategy} {ys[-1]:.3g}x", xs[-1], ys[-1], color))
        speed.plot(*_positive_points(mine, pos, modelled), linestyle="--", marker="x",
                   color=color, alpha=0.6)
    styles = [Line2D([], [], color="gray", marker="o", label="measured"),
              Line2D([], [], color="gray", linestyle="--", marker="x", label=f"model {model}")]
    speed.legend(handles=[h for h in handles if h.get_label() != "cow"] + styles, fontsize=8)
    if native:
        cost.plot(*_positive_points(native, pos, lambda r: float(r["ms_per_fork_cycle"])),
                  color="black", linestyle="--", linewidth=2)
        handles.append(Line2D([], [], color="black", linestyle="--", linewidth=2,
                              label="native Linux (this machine)"))
    cost.legend(handles=handles, fontsize=8)
    speed.axhline(1.0, color="gray", linewidth=1)
    speed.set_title("Speedup over cow fork, whole fork cycle (above 1x: faster)")
    speed.set_ylabel("cow's cost / this strategy's cost")
    cost.set_title("Cost of one fork cycle (measured)")
    cost.set_ylabel("ms per fork cycle")
    plain = FuncFormatter(lambda v, _p: f"{v:g}")
    for ax in (speed, cost):
        ax.set_yscale("log")
        ax.yaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
        ax.yaxis.set_major_formatter(plain)
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(range(len(ns)), [str(n) for n in ns])
        ax.set_xlim(-0.4, len(ns) - 0.4 + (0.9 if ax is speed else 0))  # room for the labels
        ax.set_xlabel("N dirty pages in the forking process (ticks at the measured N)")
        ax.grid(True, which="both", alpha=0.3)
    lo, hi = (math.log10(v) for v in speed.get_ylim())
    places = spread([math.log10(y) for _l, _x, y, _c in ends], (hi - lo) * 0.035)
    for (label, x, y, color), place in zip(ends, places, strict=True):
        speed.annotate(label, (x, y), xytext=(x + 0.12, 10 ** place), textcoords="data",
                       va="center", fontsize=8, color=color, fontweight="bold")
    fig.text(0.5, 0.01, "measured cycle: (time with F forks - time with none) / F; a point "
             "where noise made it <= 0 is left out (more --forks and --repeat help)",
             ha="center", fontsize=8, color="dimgray")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.savefig(path, format="png", dpi=110)
    plt.close(fig)


def spread(values: list[float], gap: float) -> list[float]:
    """Places for labels at values (one axis), in the same order, moved apart
    as little as needed so that no two are closer than gap (pushed upwards,
    from the lowest)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    out = list(values)
    for prev, cur in zip(order, order[1:]):
        out[cur] = max(out[cur], out[prev] + gap)
    return out


def progress_line(done: int, total: int, what: str) -> None:
    """A progress bar on stderr, when stderr is a terminal."""
    if not sys.stderr.isatty():
        return
    width = 30
    filled = width * done // max(total, 1)
    end = "\n" if done >= total else ""
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {what:<24s}{end}")
    sys.stderr.flush()


def suite_table(rows: list[dict[str, object]], models: list[str],
                jos_source: str | None = None) -> str:
    """The `pyjos bench` suite: figure, pyjos, its ratio to the floor per trap
    (trap-bound rows), the same events under each cost model, and the user's
    own JOS figure (--jos-figures) with the ratio."""
    heads = [f"{'benchmark':<34s}", f"{'pyjos':>12s}", f"{'x floor':>8s}",
             *(f"{'model ' + m:>12s}" for m in models)]
    if jos_source is not None:
        heads += [f"{'JOS (yours)':>14s}", f"{'ratio':>7s}"]
    out = [" ".join(heads)]
    for r in rows:
        unit = str(r["unit"])
        x_floor = r.get("x_floor")
        cells = [f"{r['name']:<34s}", f"{r['value']:>9.3f} {unit:<2s}",
                 f"{x_floor:>8.2f}" if x_floor is not None else f"{'-':>8s}"]
        for m in models:
            value = (r.get("models") or {}).get(m)
            cells.append(f"{value:>9.3f} {unit:<2s}" if value is not None else f"{'-':>12s}")
        if jos_source is not None:
            ref = r.get("reference")
            ref_s = "-" if ref is None else (
                f"{ref[0]}-{ref[1]}" if isinstance(ref, list) else f"{ref}") + f" {unit}"
            ratio = "-" if r.get("ratio") is None else f"{r['ratio']:.2f}"
            cells += [f"{ref_s:>14s}", f"{ratio:>7s}"]
        out.append(" ".join(cells))
    out.append("pyjos: measured here; x floor: pyjos's time over (its traps x the floor's time "
               "per trap), measured in the same run; model M: the events pyjos counted, priced "
               "by cost model M (costmodel.py) at its clock")
    if jos_source is None:
        out.append("no JOS figures: give your own measured ones with --jos-figures FILE "
                   "(format and how to measure: docs/how-much-faster.md)")
    else:
        out.append(f"JOS (yours): {jos_source}; ratio: pyjos / JOS (the low end of a range)")
    return "\n".join(out)


def model_table(counters: dict[str, float], models: list) -> str:
    """`pyjos run --stats --model`: each priced event's count, and its cycles
    under each cost model (costmodel.py); then the totals, and the totals as
    time at each model's clock."""
    from .costmodel import EVENTS, event_counts, priced

    counts, prices = event_counts(counters), priced(counters, models)
    width = max(len(e) for e in EVENTS)
    out = ["--- modelled cycles (costmodel.py; the last line: ms at each model's clock) ---",
           f"{'event':<{width}}  {'count':>12s}" + "".join(f"  {m.name:>14s}" for m in models)]
    for event in EVENTS:
        out.append(f"{event:<{width}}  {counts[event]:>12,.0f}"
                   + "".join(f"  {prices[m.name]['per_event'][event]:>14,d}" for m in models))
    out.append(f"{'total':<{width}}  {'':>12s}"
               + "".join(f"  {prices[m.name]['cycles']:>14,d}" for m in models))
    out.append(f"{'ms':<{width}}  {'':>12s}" + "".join(
        f"  {prices[m.name]['ms']:>14,.3f}" if prices[m.name]["ms"] is not None else f"  {'-':>14s}"
        for m in models))
    return "\n".join(out)

