"""The user library's memory functions (word-wise fast paths and byte loops)."""

from __future__ import annotations

from conftest import guest_source


def test_memory_functions(run_programs):
    text, _k, result = run_programs([guest_source("memtest")])
    assert result.reason == "idle"
    for name in ("backwards", "forwards", "memset", "memset-unaligned", "memmove-unaligned", "all"):
        assert f"{name} 1\n" in text, text
