"""The CPU that Numba compiles for: its features, its ISA level, its identity and its caches.

One reader for ``kernels/`` and ``bench/``. Numba compiles for ``NUMBA_CPU_NAME`` and
``NUMBA_CPU_FEATURES`` when they are set (CI compiles the kernels for narrower ISAs that way), else for
the host: those, not ``/proc/cpuinfo``, decide which instructions LLVM may emit, so every vector width,
register count and block size follows them. The caches are the host's (sysfs): a kernel compiled for
another ISA still runs on this machine's caches.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import llvmlite.binding as llb
import numba

from kernels.threads import available_cores


class Isa(str, Enum):
    """The vector instruction set levels the kernels have a ``Blocking`` for (``kernels.blocking``)."""

    SSE = "sse4.2"  # 128-bit vectors, 16 registers, no FMA on x86 (and any non-x86 CPU: 128-bit NEON)
    AVX2 = "avx2"  # 256-bit vectors with FMA3, 16 registers
    AVX512_HALVES = "avx512-halves"  # AVX-512 (32 registers) on cores that run a 512-bit op as two halves
    AVX512 = "avx512"  # full-width AVX-512

    @property
    def vector_bytes(self) -> int:
        return {Isa.SSE: 16, Isa.AVX2: 32}.get(self, 64)

    @property
    def vector_registers(self) -> int:
        return 32 if self in (Isa.AVX512, Isa.AVX512_HALVES) else 16

    @property
    def has_fma(self) -> bool:
        """Whether a fused multiply-add is one instruction (on x86 SSE, ``llvm.fma`` is a libm call)."""
        return self is not Isa.SSE or not is_x86()

    @property
    def multiply_add(self) -> str:
        """The LLVM intrinsic of a vector multiply-add: ``llvm.fma`` (one rounding) where the ISA has FMA;
        without it ``llvm.fmuladd``, a multiply and an add, as ``llvm.fma`` would be a call of libm's
        ``fma`` per lane."""
        return "llvm.fma" if self.has_fma else "llvm.fmuladd"


# LLVM's names of the cores that issue a 512-bit operation as two 256-bit halves: AVX-512's registers
# and instructions, but the FMA rate of AVX2.
HALF_WIDTH_AVX512 = frozenset({"znver4"})


@dataclass(frozen=True)
class Target:
    """An LLVM CPU and the features to compile for at one ISA level (``NUMBA_CPU_NAME`` and
    ``NUMBA_CPU_FEATURES``), to run a narrower level's code on a wider CPU."""

    cpu: str
    features: frozenset[str]


_SSE42 = frozenset({"sse4.2", "popcnt"})
_AVX2 = _SSE42 | {"avx", "avx2", "fma", "f16c", "bmi", "bmi2", "lzcnt", "movbe"}
_AVX512 = _AVX2 | {"avx512f", "avx512dq", "avx512cd", "avx512bw", "avx512vl"}
ISA_TARGETS = {
    Isa.SSE: Target("nehalem", _SSE42),
    Isa.AVX2: Target("haswell", _AVX2),
    Isa.AVX512_HALVES: Target("znver4", _AVX512),
    Isa.AVX512: Target("skylake-avx512", _AVX512),
}


def is_x86() -> bool:
    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def target_cpu_name() -> str:
    """LLVM's name of the CPU Numba compiles for (``NUMBA_CPU_NAME`` when set, else the host's)."""
    return numba.config.CPU_NAME or llb.get_host_cpu_name()


def host_features() -> frozenset[str]:
    """The features of the CPU this process runs on, whatever Numba compiles for."""
    return frozenset(name for name, on in llb.get_host_cpu_features().items() if on)


def target_features() -> frozenset[str]:
    """The CPU features Numba compiles for (``NUMBA_CPU_FEATURES`` when set, else the host's)."""
    flat = numba.config.CPU_FEATURES
    if flat is None:
        flat = llb.get_host_cpu_features().flatten()
    return frozenset(f[1:] for f in flat.split(",") if f.startswith("+"))


def target_isa() -> Isa:
    """The widest ISA level the target's features reach. AVX without FMA (Sandy and Ivy Bridge) is the
    SSE level: its wide vectors would need two roundings and separate multiply and add pipes."""
    features = target_features()
    if not is_x86():
        return Isa.SSE
    if "avx512f" in features and "fma" in features:
        return Isa.AVX512_HALVES if target_cpu_name() in HALF_WIDTH_AVX512 else Isa.AVX512
    if {"avx2", "fma"} <= features:
        return Isa.AVX2
    return Isa.SSE


def _cpuinfo_fields(path: Path = Path("/proc/cpuinfo")) -> dict[str, str]:
    """The first processor's fields of ``/proc/cpuinfo`` (empty where there is none)."""
    fields: dict[str, str] = {}
    try:
        text = path.read_text()
    except OSError:
        return fields
    for line in text.splitlines():
        if not line.strip():
            break
        name, _, value = line.partition(":")
        fields[name.strip()] = value.strip()
    return fields


def cpu_model() -> str:
    """The host CPU's model: its name, and the vendor, family, model and stepping that tell apart what a
    virtual machine names alike ("AMD EPYC" is a Zen 3 or a Zen 4); stable across reboots."""
    fields = _cpuinfo_fields()
    name = fields.get("model name") or platform.processor() or platform.machine()
    ids = [fields.get(key) for key in ("vendor_id", "cpu family", "model", "stepping")]
    if all(ids):
        return f"{name} ({ids[0]} family {ids[1]} model {ids[2]} stepping {ids[3]})"
    return name


# --- caches ----------------------------------------------------------------------------------------------

SYSFS_CPU = Path("/sys/devices/system/cpu")
# Used when sysfs does not say (not Linux, a container hiding it): common sizes, marked "fallback".
FALLBACK_CACHES = {"L1": (32 * 2**10, 1), "L2": (1 * 2**20, 1), "L3": (8 * 2**20, 0)}  # bytes, cpus sharing


def _parse_size(text: str) -> int:
    """sysfs cache sizes: "32K", "1024K", "32M", or plain bytes."""
    text = text.strip().upper()
    scale = {"K": 2**10, "M": 2**20, "G": 2**30}.get(text[-1:], 1)
    return int(text.rstrip("KMG")) * scale


def _parse_cpu_list(text: str) -> int:
    """How many CPUs "0-3,8-11" names."""
    count = 0
    for part in text.strip().split(","):
        low, _, high = part.partition("-")
        count += int(high or low) - int(low) + 1
    return count


def read_caches(root: Path = SYSFS_CPU, cores: int | None = None) -> dict[str, dict]:
    """The data caches of ``cpu0``: per level, the bytes of one instance, how many CPUs share it, and how
    many instances ``cores`` cores (default: this process's) reach.

    Instances are ``ceil(cores / sharing)``: cores are assumed to fill one cache before the next, as
    the CPUs of a process usually do. A level that sysfs lacks or garbles gets a fallback size and
    ``"source": "fallback"``; one that a fallback shares with every core (sharing 0) has one instance.
    """
    cores = available_cores() if cores is None else cores
    found: dict[str, tuple[int, int]] = {}
    for index in sorted((root / "cpu0" / "cache").glob("index*")):
        try:
            level = int((index / "level").read_text())
            kind = (index / "type").read_text().strip()
            size = _parse_size((index / "size").read_text())
            sharing = _parse_cpu_list((index / "shared_cpu_list").read_text())
        except (OSError, ValueError):
            continue  # an unreadable index: its level falls back below
        if kind in ("Data", "Unified") and 1 <= level <= 3:
            found[f"L{level}"] = (size, sharing)
    caches = {}
    for name, fallback in FALLBACK_CACHES.items():
        size, sharing = found.get(name, fallback)
        sharing = sharing or cores
        caches[name] = {
            "bytes": size,
            "shared_by": sharing,
            "instances": max(1, math.ceil(cores / sharing)),
            "source": "sysfs" if name in found else "fallback",
        }
    return caches
