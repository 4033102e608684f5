"""pyjos run --memview: the page's data against the page tables, and the page in Chromium."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from pyjos.abi import PGSIZE, USTACKTOP
from pyjos.api import boot
from pyjos.kernel.frames import multiply_referenced
from pyjos.kernel.monitor import format_mappings, perm_string
from pyjos.tools import cli
from pyjos.tools.memview import KINDS, MemView

ROOT = Path(__file__).parent.parent
STACK = USTACKTOP - PGSIZE
XSTACK_KIND = "xstack"


def moments_of(path: Path) -> list[dict]:
    """The moments embedded in a memview page."""
    blobs = re.findall(r'<script type="application/json" class="moment">(.*?)</script>',
                       path.read_text(), re.S)
    return [json.loads(b.replace("<\\/", "</")) for b in blobs]


def viewed(tmp_path: Path, program: str, args=(), at=("fork", "exit", "end"), **settings):
    """Run program under a MemView, and record the page tables ourselves at the
    same moments; (moments, our records, System, path)."""
    path = tmp_path / f"{program}.html"
    system = boot(**settings)
    view = MemView(system.kernel, path, at)
    ours = []

    def record(_ev):
        k = system.kernel
        ours.append(({f"{k.envs[i].env_id:08x}": [[va, pte >> 12, perm_string(pte & 0xFFF)]
                                                  for va, pte in k.pmap.user_pages(k.envtab.pgdir(i))]
                      for i in k.envtab.live()}, multiply_referenced(k)))

    system.subscribe(record, [n for n, m in (("fork.calls", "fork"), ("env_free", "exit"))
                              if m in at])
    system.spawn(program, args)
    system.run()
    if "end" in at:
        record(None)
    view.close()
    return moments_of(path), ours, system, path


@pytest.fixture(scope="module")
def forktree_cow(tmp_path_factory):
    return viewed(tmp_path_factory.mktemp("mv"), "forktree", fork="cow")


@pytest.fixture(scope="module")
def forktree_cow_2cpus(tmp_path_factory):
    return viewed(tmp_path_factory.mktemp("mv2"), "forktree", fork="cow", cpus=2)


BOTH = pytest.mark.parametrize("run", ["forktree_cow", "forktree_cow_2cpus"])


@BOTH
def test_the_data_agrees_with_the_page_tables_at_every_moment(request, run):
    moments, ours, system, _ = request.getfixturevalue(run)
    assert len(moments) == len(ours) == 14 + 15 + 1  # forks, exits, the end
    for m, (tables, pp_ref_above_1) in zip(moments, ours, strict=True):
        assert {e["id"]: [p[:3] for p in e["pages"]] for e in m["envs"]} == tables, m["label"]
        assert m["shared"] == pp_ref_above_1  # the trace's cheap count is the exact one here
        for e in m["envs"]:
            for va, ppn, _bits, kind in e["pages"]:
                assert kind in KINDS
                assert m["frames"][str(ppn)] >= 1
    assert [m["kind"] for m in moments].count("fork") == system.stats["fork.calls"]
    assert moments[-1]["envs"] == []  # everyone exited


@BOTH
def test_after_every_fork_the_child_maps_the_parents_frames_copy_on_write(request, run):
    moments, _, system, _ = request.getfixturevalue(run)
    broken, running = 0, set()
    for m in (m for m in moments if m["kind"] == "fork"):
        envs = {e["id"]: e for e in m["envs"]}
        child = envs[m["focus"]]
        # The label names the parent, whichever CPU it ran on; with 2 CPUs,
        # another env runs on the other CPU meanwhile.
        assert m["label"].split()[3] == child["parent"], m["label"]
        running.add(sum(e["status"] == "RUNNING" for e in envs.values()))
        parent = {p[0]: p for p in envs[child["parent"]]["pages"]}
        for va, ppn, bits, kind in child["pages"]:
            if kind == XSTACK_KIND:
                assert parent[va][1] != ppn  # each env its own exception stack
                continue
            pva, pppn, pbits, _pkind = parent[va]
            if "W" not in bits and "C" not in bits:  # text: shared read-only
                assert (pppn, kind) == (ppn, "readonly-shared")
            elif pppn == ppn:  # still shared: copy-on-write on both sides
                assert "C" in bits and "C" in pbits and kind == "cow"
            else:  # the parent wrote there since (its stack): it has its own copy
                assert "C" in bits and "W" in pbits and va == STACK
                broken += 1
    assert broken > 0
    assert max(running) == system.kernel.config.cpus


def test_strategies_look_different(tmp_path):
    def kinds(program, args=(), **settings):
        moments, _, _, _ = viewed(tmp_path, program, args, at=("fork",), **settings)
        return {p[3] for m in moments for e in m["envs"] for p in e["pages"]}

    dumb = kinds("forktree", fork="dumb")
    assert "cow" not in dumb and "shared" not in dumb and "readonly-shared" not in dumb
    assert "cow" in kinds("forktree", fork="kernel")
    assert "shared" in kinds("sforktree")
    assert "shared" in kinds("forkbench", ["16", "1", "sfork"])


def test_memview_at_fork_only(tmp_path):
    moments, _, system, _ = viewed(tmp_path, "forkbench", ["8", "2", "cow"], at=("fork",))
    assert [m["kind"] for m in moments] == ["fork", "fork"] == ["fork"] * system.stats["fork.calls"]
    assert all(m["focus"] in {e["id"] for e in m["envs"]} for m in moments)


def test_the_page_is_self_contained(forktree_cow):
    _, _, _, path = forktree_cow
    html = path.read_text()
    assert not re.search(r"(src|href)\s*=|https?://|@import", html)


def test_monitor_vm_shows_frames_and_who_else_maps_them():
    system = boot(fork="cow")
    texts = []
    system.subscribe(lambda ev: texts.append(format_mappings(system.kernel, ev.args[0])),
                     ["fork.calls"])
    system.spawn("forktree")
    system.run()
    child = texts[0].splitlines()
    assert child[0] == "  va        frame  pp_ref  perm   also mapped by"
    text = next(line for line in child if line.startswith("  00800000"))
    assert re.fullmatch(r"  00800000  [0-9a-f]{5}       2  P-U--  00001000", text)
    cow = next(line for line in child if line.startswith("  00802000"))
    assert re.fullmatch(r"  00802000  [0-9a-f]{5}       2  P-UC-  00001000", cow)


def test_cli_memview_errors(tmp_path, capsys):
    assert cli.main(["run", "-q", "--memview", str(tmp_path / "no" / "x.html"), "hello"]) == 1
    assert capsys.readouterr().err.startswith(f"pyjos: cannot write {tmp_path}/no/x.html: ")
    assert cli.main(["run", "-q", "--memview", "x.html", "--memview-at", "fork,never",
                     "hello"]) == 1
    assert capsys.readouterr().err == ("pyjos: unknown memview moment 'never' "
                                       "(choose from fork, exit, end)\n")


# --- in a real browser ------------------------------------------------------------------------
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Chromium's command, installed (Debian package chromium) if missing."""
    done = subprocess.run([str(ROOT / "scripts" / "ensure-tools.sh"), "chromium"],
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return "chromium"


def browse(chromium: str, tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "profile"
    return subprocess.run([chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                           "--window-size=1300,600", "--virtual-time-budget=3000", *args, url],
                          capture_output=True, text=True, timeout=120)


def test_chromium_draws_one_row_per_env(chromium, forktree_cow, tmp_path):
    moments, _, _, path = forktree_cow
    for n in (1, 3):
        done = browse(chromium, tmp_path, f"file://{path}#m={n}", "--dump-dom")
        assert done.returncode == 0, done.stderr[-2000:]
        rows = re.findall(r'<div class="row envrow( focus)?"><div class="name">([0-9a-f]{8}) ',
                          done.stdout)
        assert [env for _focus, env in rows] == [e["id"] for e in moments[n - 1]["envs"]]
        assert [env for focus, env in rows if focus] == [moments[n - 1]["focus"]]
        assert f"{n}/{len(moments)}: {moments[n - 1]['label']}" in done.stdout


def test_chromium_screenshot_is_not_blank(chromium, forktree_cow, tmp_path):
    from PIL import Image

    _, _, _, path = forktree_cow
    png = tmp_path / "shot.png"
    done = browse(chromium, tmp_path, f"file://{path}#m=3", f"--screenshot={png}")
    assert done.returncode == 0 and png.exists(), done.stderr[-2000:]
    image = Image.open(png).convert("RGB")
    colours = {colour for _n, colour in image.getcolors(1 << 20)}
    for kind in ("cow", "readonly-shared", "xstack"):  # the cells are drawn in their colours
        rgb = tuple(int(KINDS[kind][0][i:i + 2], 16) for i in (1, 3, 5))
        assert rgb in colours, kind
    assert len(colours) > 20
