"""pyjos.api: the examples of docs/api.md run, and the API does what it says."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pyjos import api
from pyjos.api import BuildError, ElfError, boot
from pyjos.tools import cli, costmodel

DOC = Path(__file__).parent.parent / "docs" / "api.md"


def doc_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_docs_examples_run():
    blocks = doc_blocks()
    assert len(blocks) >= 6
    namespace: dict = {}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name} block {i + 1}", "exec"), namespace)  # noqa: S102


def test_the_module_docstring_example():
    import doctest

    assert doctest.testmod(api).failed == 0


def test_running_in_slices_is_the_same_run_as_at_once():
    whole = boot()
    whole.spawn("forktree")
    whole.run()
    stepped = boot()
    stepped.spawn("forktree")
    steps = 0
    while stepped.run(slices=1).reason == "slices":
        steps += 1
    assert steps > 3
    assert stepped.console == whole.console
    assert stepped.stats == whole.stats


@pytest.mark.parametrize("settings, message", [
    ({"mem_mib": 5000}, "memory must be 4 to 1024 MiB"),
    ({"quantum": 0}, "quantum must be positive and max_insns zero or positive"),
    ({"cow_faults": "both"}, "cow_faults must be 'user' or 'kernel', not 'both'"),
    ({"fork": "spoon"}, "unknown fork strategy 'spoon'"),
])
def test_bad_settings(settings, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        boot(**settings)


def test_bad_calls():
    system = boot()
    with pytest.raises(ValueError):
        system.run(slices=0)
    with pytest.raises(KeyError):
        system.env(0x1234)
    with pytest.raises(ElfError, match="not a 32-bit ELF"):
        system.spawn_elf("junk", b"\x7fELF" + b"\0" * 60)
    with pytest.raises(BuildError):
        system.spawn("no-such-program")


def test_envs_mappings_and_frames_agree():
    system = boot()
    first = system.spawn("forktree")
    system.run(slices=4)
    envs = system.envs()
    assert envs[0] == system.env(first) and len(envs) > 1
    frames = system.frames()
    for env in envs:
        for m in system.mappings(env.id):
            assert (env.id, m.va, m.bits) in frames[m.frame].mapped_by
            assert m.frame in frames and frames[m.frame].pp_ref >= len(frames[m.frame].envs)
    assert system.free_pages == system.kernel.pmap.nfree


def test_the_cli_runs_on_the_api(monkeypatch, capsys):
    booted = []
    real = api.boot

    def spy(**settings):
        booted.append(settings)
        return real(**settings)

    monkeypatch.setattr(api, "boot", spy)
    assert cli.main(["run", "-q", "--fork", "kernel", "hello"]) == 0
    assert booted and booted[0]["fork"] == "kernel" and booted[0]["echo"] is api.to_stdout
    assert "hello, world" in capsys.readouterr().out


def test_the_readmes_python_example_runs(capsys):
    readme = (DOC.parent.parent / "README.md").read_text()
    section = readme.split("## Python API", 1)[1]
    (block,) = re.findall(r"```python\n(.*?)```", section.split("\n## ", 1)[0], re.S)
    exec(compile(block, "README.md", "exec"), {})  # noqa: S102
    out = capsys.readouterr().out
    assert re.search(r"^00001000 ENV_RUNNABLE \d+ pages$", out, re.M)
    assert out.count("fork.calls (") >= 10


def test_modelled_prices_the_counters_as_the_cli_does():
    system = api.boot()
    system.spawn("hello")
    system.run()
    assert system.modelled(["i386"]) == costmodel.priced(system.stats, [costmodel.I386])
    assert system.modelled()["p4"]["cycles"] == round(
        costmodel.P4.cost(costmodel.event_counts(system.stats)))
    with pytest.raises(ValueError, match="unknown cost model 'z80'"):
        system.modelled(["z80"])
