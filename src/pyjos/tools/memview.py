"""`pyjos run --memview FILE.html`: a picture of every env's address space.

At chosen moments (``fork``: after each fork episode, when the child has
become runnable; ``exit``: as each env is freed, its pages still mapped;
``end``: after the run) the page tables of every live env are read (one
walk, kernel/frames.py) and each present user page is classified:

| kind | meaning |
|---|---|
| private | writable, no other env maps the frame |
| readonly | read-only, no other env maps the frame |
| cow | PTE_COW, and another env maps the frame (shared until a write) |
| cow-alone | PTE_COW, but no other env maps the frame any more (a write will reuse or copy it) |
| shared | writable and shared with another env: PTE_SHARE, or an sfork |
| readonly-shared | read-only and shared with another env (program text, under every fork) |
| xstack | the exception stack (UXSTACKTOP - PGSIZE), always the env's own |

The page is one self-contained HTML file (script and style inline, no
network): a row of coloured cells per env, one column per virtual page any
env maps at that moment (gaps in the address space are drawn as breaks),
a slider and a list to step between the moments, a legend, and on hover
the frame number, pp_ref and every env mapping that frame (the other cells
of that frame light up).  Each moment's data is embedded as JSON
(``<script type="application/json" class="moment">``), written to the file
when the moment happens.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..abi import PGSIZE, PTE_COW, PTE_SHARE, PTE_W, UXSTACKTOP, EnvStatus
from ..kernel.events import Event
from ..kernel.frames import Mapping, env_mappings, live_envs, pp_ref
from ..kernel.monitor import perm_string

if TYPE_CHECKING:
    from ..kernel import Kernel

MOMENTS = ("fork", "exit", "end")
XSTACK = UXSTACKTOP - PGSIZE
KINDS = {  # kind -> (colour, legend text)
    "private": ("#43a047", "private, writable"),
    "readonly": ("#c5e1a5", "private, read-only"),
    "cow": ("#fb8c00", "copy-on-write, shared"),
    "cow-alone": ("#ffcc80", "copy-on-write, no longer shared"),
    "shared": ("#1e88e5", "shared writable (PTE_SHARE or sfork)"),
    "readonly-shared": ("#9575cd", "read-only, shared"),
    "xstack": ("#e53935", "exception stack"),
}


def page_kind(m: Mapping, sharers: int) -> str:
    """The kind of a mapping whose frame `sharers` envs (this one included) map."""
    if m.va == XSTACK:
        return "xstack"
    shared = sharers > 1
    if m.perm & PTE_COW:
        return "cow" if shared else "cow-alone"
    if m.perm & PTE_SHARE or (shared and m.perm & PTE_W):
        return "shared"
    if m.perm & PTE_W:
        return "private"
    return "readonly-shared" if shared else "readonly"


def snapshot(k: Kernel, label: str, kind: str) -> dict:
    """Every live env's pages now, classified, with the frames' pp_ref."""
    per_env = {idx: env_mappings(k, idx) for idx in live_envs(k)}
    sharers: dict[int, set[int]] = {}
    for idx, maps in per_env.items():
        for m in maps:
            sharers.setdefault(m.ppn, set()).add(idx)
    envs = []
    for idx, maps in per_env.items():
        e = k.envs[idx]
        prog = k.envtab.programs.get(idx)
        envs.append({"id": f"{e.env_id:08x}", "parent": f"{e.env_parent_id:08x}",
                     "program": prog.name if prog else "?",
                     "status": EnvStatus(e.env_status).name[4:],
                     "pages": [[m.va, m.ppn, perm_string(m.perm),
                                page_kind(m, len(sharers[m.ppn]))] for m in maps]})
    return {"label": label, "kind": kind, "envs": envs, "free": k.pmap.nfree,
            "frames": {str(ppn): pp_ref(k, ppn) for ppn in sorted(sharers)},
            "shared": sum(1 for who in sharers.values() if len(who) > 1)}


class MemView:
    """Subscribes to a kernel's fork ends and env exits; writes the page."""

    def __init__(self, kernel: Kernel, path: Path, at: Iterable[str] = MOMENTS,
                 title: str = "pyjos memory") -> None:
        self.kernel = kernel
        self.at = tuple(at)
        if set(self.at) - set(MOMENTS):
            raise ValueError(f"unknown memview moments {self.at} (choose from {MOMENTS})")
        self.count = 0
        self.forks = 0
        self.out: TextIO = open(path, "w", encoding="utf-8")
        self.out.write(_HEAD.replace("{{TITLE}}", _html_escape(title)))
        self.out.write(_legend())
        names = [n for n, moment in (("fork.calls", "fork"), ("env_free", "exit"))
                 if moment in self.at]
        self.sub = kernel.events.subscribe(self.on_event, names) if names else None

    def on_event(self, ev: Event) -> None:
        """A fork episode ended or an env is being freed: take a snapshot."""
        envs = self.kernel.envs
        if ev.name == "fork.calls":
            self.forks += 1
            child, traps, calls = envs[ev.args[0]].env_id, ev.args[1], ev.args[2]
            self.moment(f"after fork {self.forks}: {ev.env:08x} made {child:08x} "
                        f"({_count(traps, 'trap')}, {_count(calls, 'system call')})", "fork", child)
        else:
            self.moment(f"{ev.args[1]:08x} exits (freed)", "exit", ev.args[1])

    def moment(self, label: str, kind: str, focus: int = 0) -> None:
        """Write a snapshot of now (focus: the env it is about, 0 none)."""
        shot = snapshot(self.kernel, label, kind)
        shot["focus"] = f"{focus:08x}"
        data = json.dumps(shot, separators=(",", ":"))
        self.out.write('<script type="application/json" class="moment">'
                       + data.replace("</", "<\\/") + "</script>\n")
        self.count += 1

    def close(self) -> None:
        """The end moment (if asked for), the script, and the file is complete."""
        if self.sub is not None:
            self.sub.close()
        if "end" in self.at:
            self.moment("end of the run", "end")
        self.out.write(_TAIL)
        self.out.close()


def _html_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _legend() -> str:
    items = "".join(f'<span class="key"><i style="background:{colour}"></i>{_html_escape(text)}'
                    f"</span>" for colour, text in KINDS.values())
    kinds = json.dumps({kind: colour for kind, (colour, _t) in KINDS.items()})
    return (f'<div id="legend">{items}</div>\n'
            f'<script type="application/json" id="kinds">{kinds}</script>\n')


_HEAD = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{{TITLE}}</title>
<style>
body { font: 13px/1.35 system-ui, sans-serif; margin: 12px 16px; color: #222; background: #fff; }
h1 { font-size: 17px; margin: 0 0 6px; }
#controls { display: flex; gap: 8px; align-items: center; margin: 8px 0; flex-wrap: wrap; }
#controls input[type=range] { width: 320px; }
#label { font-weight: 600; }
#summary { color: #555; margin: 2px 0 8px; }
#legend { margin: 6px 0; display: flex; flex-wrap: wrap; gap: 4px 14px; }
.key i { display: inline-block; width: 12px; height: 12px; margin-right: 4px;
         vertical-align: -2px; border: 1px solid #0003; }
#grid { overflow-x: auto; padding-bottom: 6px; }
.row { display: flex; align-items: center; height: 19px; white-space: nowrap; }
.row.focus .name { font-weight: 700; background: #fff3c4; }
.name { width: 230px; min-width: 230px; font: 12px ui-monospace, monospace; overflow: hidden; }
.cells { display: flex; align-items: center; }
.c { width: var(--w, 11px); height: 16px; margin-right: 1px; box-sizing: border-box; }
.c.empty { background: #f2f2f2; }
.gap { width: 9px; height: 16px; margin-right: 1px;
       background: repeating-linear-gradient(135deg, #fff 0 2px, #bbb 2px 3px); }
.c.hi { outline: 2px solid #000; outline-offset: -1px; }
.axis { height: 64px; align-items: flex-end; }
.tick { font: 10px ui-monospace, monospace; color: #555; writing-mode: vertical-rl;
        transform: rotate(180deg); width: var(--w, 11px); margin-right: 1px; height: 60px;
        text-align: left; overflow: visible; }
#info { font: 12px ui-monospace, monospace; white-space: pre; background: #fafafa;
        border: 1px solid #ddd; padding: 6px 8px; margin-top: 10px; min-height: 4.5em; }
</style></head><body>
<h1>{{TITLE}}</h1>
"""

_TAIL = r"""<div id="controls">
<button id="prev">&larr;</button><input type="range" id="slider" min="0" value="0">
<button id="next">&rarr;</button><select id="list"></select>
</div>
<div id="label"></div><div id="summary"></div>
<div id="grid"></div>
<div id="info">Hover a page: its frame, pp_ref and every env that maps it.</div>
<script>
"use strict";
const moments = [...document.querySelectorAll("script.moment")].map(s => JSON.parse(s.textContent));
const colours = JSON.parse(document.getElementById("kinds").textContent);
const slider = document.getElementById("slider"), list = document.getElementById("list");
const hex = (n, w) => n.toString(16).padStart(w, "0");
slider.max = Math.max(0, moments.length - 1);
moments.forEach((m, i) => list.add(new Option(`${i + 1}. ${m.label}`, i)));
let shown = -1;

function columns(m) {
  const vas = new Set();
  m.envs.forEach(e => e.pages.forEach(p => vas.add(p[0])));
  const sorted = [...vas].sort((a, b) => a - b), out = [];
  sorted.forEach((va, i) => {
    if (i > 0 && va !== sorted[i - 1] + 4096) out.push(null);
    out.push(va);
  });
  return out;
}

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function show(i) {
  if (!moments.length) { document.getElementById("label").textContent = "no moments recorded"; return; }
  i = Math.max(0, Math.min(moments.length - 1, i));
  shown = i; slider.value = i; list.value = i;
  const m = moments[i], cols = columns(m), grid = document.getElementById("grid");
  document.getElementById("label").textContent = `${i + 1}/${moments.length}: ${m.label}`;
  const counts = {};
  m.envs.forEach(e => e.pages.forEach(p => counts[p[3]] = (counts[p[3]] || 0) + 1));
  document.getElementById("summary").textContent =
    `${m.envs.length} envs, ${m.shared} frames shared by two or more envs, ${m.free} free pages; ` +
    Object.entries(counts).map(([k, n]) => `${k} ${n}`).join(", ");
  grid.replaceChildren();
  const pages = cols.filter(va => va !== null).length;
  grid.style.setProperty("--w", `${Math.max(5, Math.min(24, Math.floor(900 / Math.max(1, pages))) - 1)}px`);
  const axis = el("div", "row axis"); axis.appendChild(el("div", "name", "va"));
  const ticks = el("div", "cells");
  cols.forEach((va, j) => {
    const start = va !== null && (j === 0 || cols[j - 1] === null);
    ticks.appendChild(el("div", va === null ? "gap" : "tick", start ? hex(va, 8) : ""));
  });
  axis.appendChild(ticks); grid.appendChild(axis);
  m.envs.forEach(e => {
    const row = el("div", e.id === m.focus ? "row envrow focus" : "row envrow"), cells = el("div", "cells"), at = new Map();
    e.pages.forEach(p => at.set(p[0], p));
    row.appendChild(el("div", "name", `${e.id} ${e.program} ${e.status.toLowerCase()}`));
    cols.forEach(va => {
      if (va === null) { cells.appendChild(el("div", "gap")); return; }
      const p = at.get(va), c = el("div", p ? "c" : "c empty");
      if (p) {
        c.style.background = colours[p[3]];
        c.dataset.frame = p[1]; c.dataset.env = e.id; c.dataset.va = va;
      }
      cells.appendChild(c);
    });
    row.appendChild(cells); grid.appendChild(row);
  });
}

function describe(m, frame) {
  const who = [];
  m.envs.forEach(e => e.pages.forEach(p => {
    if (p[1] === frame) who.push(`  ${e.id} ${e.program.padEnd(10)} va ${hex(p[0], 8)}  ${p[2]}  ${p[3]}`);
  }));
  return `frame ${hex(frame, 5)}  pp_ref ${m.frames[frame]}  mapped by ${who.length}:\n` + who.join("\n");
}

function highlight(frame) {
  document.querySelectorAll(".c.hi").forEach(x => x.classList.remove("hi"));
  if (frame === undefined || moments[shown].frames[frame] === undefined) return;
  document.querySelectorAll(`.c[data-frame="${frame}"]`).forEach(x => x.classList.add("hi"));
  document.getElementById("info").textContent = describe(moments[shown], frame);
}

document.getElementById("grid").addEventListener("mouseover", ev => {
  const c = ev.target;
  highlight(c.dataset && c.dataset.frame !== undefined ? Number(c.dataset.frame) : undefined);
});
slider.addEventListener("input", () => show(Number(slider.value)));
list.addEventListener("change", () => show(Number(list.value)));
document.getElementById("prev").addEventListener("click", () => show(shown - 1));
document.getElementById("next").addEventListener("click", () => show(shown + 1));
document.addEventListener("keydown", ev => {
  if (ev.key === "ArrowLeft") show(shown - 1);
  if (ev.key === "ArrowRight") show(shown + 1);
});
// #m=N shows moment N (from 1); #m=N&f=HEX also highlights frame HEX.
const wanted = /^#m=(\d+)(?:&f=([0-9a-f]+))?$/.exec(location.hash);
show(wanted ? Number(wanted[1]) - 1 : 0);
if (wanted && wanted[2]) highlight(parseInt(wanted[2], 16));
</script>
</body></html>
"""


def _count(n: int, noun: str) -> str:
    """'1 trap', '16 traps'."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
