"""The C headers (guest/inc) and pyjos.abi describe the same ABI.

A guest program generated from pyjos.abi prints, as the C compiler sees them,
every constant, syscall number, error code, status, trap number, structure
size and field offset, plus the addresses of the user library's envs, pages,
uvpt and uvpd symbols.  The test runs it in the kernel and compares each value
with the Python one, so neither side can drift.
"""

from __future__ import annotations

import ctypes

import pytest

from conftest import guest_source
from pyjos import abi

STRUCTS = {
    "PushRegs": abi.PushRegs,
    "Trapframe": abi.Trapframe,
    "UTrapframe": abi.UTrapframe,
    "Env": abi.Env,
    "PageInfo": abi.PageInfo,
    "BatchCall": abi.BatchCall,
}

CONSTANTS = [
    "PGSIZE", "PGSHIFT", "PTXSHIFT", "PDXSHIFT", "NPDENTRIES", "NPTENTRIES", "PTSIZE",
    "PTE_P", "PTE_W", "PTE_U", "PTE_PWT", "PTE_PCD", "PTE_A", "PTE_D", "PTE_PS", "PTE_G",
    "PTE_AVAIL", "PTE_SYSCALL", "PTE_SHARE", "PTE_COW",
    "FEC_PR", "FEC_WR", "FEC_U",
    "KERNBASE", "KSTACKTOP", "KSTKSIZE", "KSTKGAP", "MMIOLIM", "MMIOBASE", "ULIM", "UVPT",
    "UPAGES", "UENVS",
    "UTOP", "UXSTACKTOP", "USTACKTOP", "UTRAMPOLINE", "UBATCHBUF", "UTEXT", "UTEMP", "PFTEMP",
    "USTABDATA",
    "GD_KT", "GD_KD", "GD_UT", "GD_UD", "GD_TSS0", "FL_IF",
    "NENV", "LOG2NENV", "ENV_TYPE_USER", "NSYSCALLS", "BATCH_MAX", "BATCH_CONTINUE",
]
ENUMS = [abi.Sys, abi.Err, abi.EnvStatus, abi.Trap, abi.ForkStrategy]


def _data_fields(struct: type[ctypes.Structure]) -> list[str]:
    """Field names that exist in C too (C's Env and PageInfo have implicit padding)."""
    names = [f[0] for f in struct._fields_]
    return [n for n in names if not (n.startswith(("env_padding", "pp_padding")))]


def expected_values() -> dict[str, int]:
    """Everything the guest prints, as pyjos.abi has it."""
    want: dict[str, int] = {}
    for name in CONSTANTS:
        want[f"const {name}"] = getattr(abi, name)
    for enum in ENUMS:
        for member in enum:
            want[f"const {member.name}"] = int(member)
    for sname, struct in STRUCTS.items():
        want[f"sizeof {sname}"] = ctypes.sizeof(struct)
        for field in _data_fields(struct):
            desc = getattr(struct, field)
            want[f"offsetof {sname}.{field}"] = desc.offset
            want[f"fieldsize {sname}.{field}"] = desc.size
    want["symbol envs"] = abi.UENVS
    want["symbol pages"] = abi.UPAGES
    want["symbol uvpt"] = abi.UVPT
    want["symbol uvpd"] = abi.UVPD
    return want


def generate_program() -> str:
    """C source printing `<key> <hex value>` for every key of expected_values()."""
    lines = [
        "#include <inc/lib.h>",
        "#include <inc/batch.h>",
        '#define C(x) cprintf("const %s %x\\n", #x, (uint32_t) (x))',
        '#define S(t) cprintf("sizeof %s %x\\n", #t, (uint32_t) sizeof(struct t))',
        '#define O(t, f) cprintf("offsetof %s.%s %x\\n", #t, #f, (uint32_t) offsetof(struct t, f))',
        '#define Z(t, f) cprintf("fieldsize %s.%s %x\\n", #t, #f, '
        "(uint32_t) sizeof(((struct t *) 0)->f))",
        '#define Y(s) cprintf("symbol %s %x\\n", #s, (uint32_t) (s))',
        "void umain(int argc, char **argv) {",
    ]
    body = [f"C({name});" for name in CONSTANTS]
    body += [f"C({member.name});" for enum in ENUMS for member in enum]
    for sname, struct in STRUCTS.items():
        body.append(f"S({sname});")
        for field in _data_fields(struct):
            body += [f"O({sname}, {field});", f"Z({sname}, {field});"]
    body += ["Y(envs);", "Y(pages);", "Y(uvpt);", "Y(uvpd);"]
    # Runtime facts, checked against the kernel's own view.
    body += [
        'cprintf("runtime thisenv %x\\n", (uint32_t) thisenv);',
        'cprintf("runtime getenvid %x\\n", (uint32_t) sys_getenvid());',
        'cprintf("runtime thisenv_id %x\\n", (uint32_t) thisenv->env_id);',
        'cprintf("runtime env_pgdir %x\\n", (uint32_t) thisenv->env_pgdir);',
        'cprintf("runtime uvpd_self %x\\n", (uint32_t) uvpd[PDX(UVPT)]);',
        'cprintf("runtime uvpt_of_uvpd %x\\n", (uint32_t) uvpt[PGNUM(uvpd)]);',
        'cprintf("runtime stack_pte %x\\n", (uint32_t) uvpt[PGNUM(USTACKTOP - PGSIZE)]);',
        'cprintf("runtime text_pte %x\\n", (uint32_t) uvpt[PGNUM(UTEXT)]);',
        'cprintf("runtime status %x\\n", (uint32_t) thisenv->env_status);',
        'cprintf("runtime status_enum %x\\n", (uint32_t) ENV_RUNNING);',
    ]
    return "\n".join([*lines, *("\t" + b for b in body), "}", ""])


@pytest.fixture(scope="module")
def abi_run(tmp_path_factory, run_programs):
    src = tmp_path_factory.mktemp("abi") / "abiprint.c"
    src.write_text(generate_program())
    text, k, result = run_programs([str(src)])
    assert result.reason == "idle", text
    values: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("const", "sizeof", "offsetof", "fieldsize",
                                            "symbol", "runtime"):
            values[f"{parts[0]} {parts[1]}"] = int(parts[2], 16)
    return values, text, k


def test_every_value_printed(abi_run):
    values, text, _k = abi_run
    missing = sorted(set(expected_values()) - set(values))
    assert not missing, f"the guest did not print {missing}\n{text}"


@pytest.mark.parametrize("key", sorted(expected_values()))
def test_c_and_python_agree(abi_run, key):
    values, _text, _k = abi_run
    assert values[key] == expected_values()[key], f"{key}: C {values[key]:#x}, Python {expected_values()[key]:#x}"


def test_abi_md_values():
    """A few figures straight from ABI.md, independent of both sides."""
    assert abi.UVPD == 0xEF7BD000
    assert (abi.ULIM, abi.UVPT, abi.UPAGES, abi.UTOP) == (0xEF800000, 0xEF400000, 0xEF000000, 0xEEC00000)
    assert (abi.USTACKTOP, abi.UTEXT, abi.PFTEMP, abi.UTEMP) == (0xEEBFE000, 0x800000, 0x7FF000, 0x400000)
    assert abi.PTE_SYSCALL == 0xE07 and abi.NENV == 1024
    assert (abi.Env.env_ipc_recving.offset, abi.Env.env_ipc_dstva.offset) == (104, 108)
    assert (abi.UTrapframe.utf_eip.offset, abi.Trapframe.tf_ss.offset) == (40, 64)
    # JOS's calls are 0..12; pyjos's own follow them (ABI.md: "new calls go after").
    assert abi.Sys.SYS_ipc_recv == 12
    assert (abi.Sys.SYS_batch, abi.Sys.SYS_fork, abi.NSYSCALLS) == (13, 14, 15)
    assert abi.Err.E_IPC_NOT_RECV == 7 and abi.Trap.T_SYSCALL == 48


def test_runtime_view(abi_run):
    """thisenv, envs[], the UVPT self-map and page perms, as the guest sees them."""
    values, text, k = abi_run
    envid = values["runtime getenvid"]
    assert envid == 0x1000
    assert values["runtime thisenv_id"] == envid
    assert values["runtime thisenv"] == abi.UENVS + abi.ENVX(envid) * ctypes.sizeof(abi.Env)
    assert values["runtime status"] == values["runtime status_enum"] == abi.EnvStatus.ENV_RUNNING
    pgdir_pa = values["runtime env_pgdir"] - abi.KERNBASE
    assert values["runtime env_pgdir"] >= abi.KERNBASE
    # uvpd[PDX(UVPT)] maps the page directory itself, user-readable, not writable.
    self_pde = values["runtime uvpd_self"]
    assert abi.PTE_ADDR(self_pde) == pgdir_pa
    assert self_pde & (abi.PTE_P | abi.PTE_U | abi.PTE_W) == abi.PTE_P | abi.PTE_U
    assert abi.PTE_ADDR(values["runtime uvpt_of_uvpd"]) == pgdir_pa
    stack = values["runtime stack_pte"]
    assert stack & (abi.PTE_P | abi.PTE_U | abi.PTE_W) == abi.PTE_P | abi.PTE_U | abi.PTE_W
    assert values["runtime text_pte"] & (abi.PTE_P | abi.PTE_U) == abi.PTE_P | abi.PTE_U


def test_argv0_is_program_name(run_programs):
    text, _k, result = run_programs([guest_source("argvzero")], ["x", "hello world", ""])
    assert result.reason == "idle"
    assert "argc 4\nargv[0] = argvzero\nargv[1] = x\nargv[2] = hello world\nargv[3] = \n" in text, text
    assert "binaryname argvzero" in text, text
