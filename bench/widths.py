"""The study with the vector width as its variable: loops, numpy and numba at every ISA level this CPU has.

``python -m bench.widths`` runs one process per ISA level (``kernels.cpu.Isa``) whose features the host
has, from SSE4.2's 128-bit vectors to the host's own widest. In each, Numba compiles for that level
(``NUMBA_CPU_NAME`` and ``NUMBA_CPU_FEATURES``, as CI does for the narrower ``Blocking`` entries) and
OpenBLAS runs its kernel for it (``OPENBLAS_CORETYPE``), so that both vectorised backends are held to the
same width; the interpreted loops, which have none, are the baseline. Each process first validates every
backend's three products at the network's shapes against float64 (``bench.bounds``), then times rounds
of training (``SAMPLES`` rows; loops, one batch) that alternate the three backends, in blocks: a block's
ratio is its sides' fastest rounds, and a block the machine slowed is measured again and counted apart
(``reports.analysis``), as in the headline. The results go to
``reports/machines/<machine id>/widths.json``; ``python -m reports.build`` draws them
(``vector_width.png``).

Optional: under a minute per level, plus a first compile of the numba backend for each narrower level.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from kernels.cpu import ISA_TARGETS, Isa, host_features, target_cpu_name, target_isa
from reports.analysis import WIDTH_BACKENDS, WIDTH_SPEEDUPS, at_full_speed
from reports.roles import COMPILED, LOOPS

NARROWER = (Isa.SSE, Isa.AVX2)  # 128 and 256 bits; the widest level measured is the host's own
# OpenBLAS's kernel for each narrower level (its names for the cores it has kernels for): the same vector
# width as the Numba target. At the host's own level OpenBLAS picks its kernel itself, as users run it.
OPENBLAS_CORES = {Isa.SSE: "Nehalem", Isa.AVX2: "Haswell"}
BATCH = 128  # the network's default batch: the products dominate its step, so the width shows most
ROUNDS = 3  # rounds of each backend per block, alternating
BLOCKS = 6  # blocks at full speed wanted: the interval's unit, as in the headline
MAX_BLOCKS = 2 * BLOCKS  # blocks at most, the slowed ones included
SAMPLES = 8_192  # rows per round of the vectorised backends: a round of tens of milliseconds
LOOPS_SAMPLES = BATCH  # one step per round: the interpreter takes about a second for it


def levels() -> list[Isa | None]:
    """The levels to measure: each narrower level whose features the host has, then the host's own
    (None: Numba and OpenBLAS left to choose, as a user runs them)."""
    host = target_isa()
    narrower = [
        isa
        for isa in NARROWER
        if isa.vector_bytes < host.vector_bytes and ISA_TARGETS[isa].features <= host_features()
    ]
    return [*narrower, None]


def _environment(isa: Isa | None) -> dict[str, str]:
    env = dict(os.environ)
    # each level sets its own; OPENBLAS_L2_SIZE is left to OpenBLAS, as a fair NumPy timing needs
    for name in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"):
        env.pop(name, None)
    if isa is not None:
        target = ISA_TARGETS[isa]
        env["NUMBA_CPU_NAME"] = target.cpu
        env["NUMBA_CPU_FEATURES"] = ",".join(f"+{f}" for f in sorted(target.features))
        env["OPENBLAS_CORETYPE"] = OPENBLAS_CORES[isa]
    return env


# --- one level, in its own process ------------------------------------------------------------------------


def validate(backend_name: str) -> list[str]:
    """Each of the backend's products at the first layer's shapes against float64 (raises if outside the
    rounding-error bound); the loops backend at one row, which its interpreter computes in a second."""
    from bench.bounds import assert_matmul_within_bound
    from bench.harness import DEFAULT_HIDDEN, DTYPE, INPUTS
    from kernels import get_backend

    backend = get_backend(backend_name)
    rows = BATCH if backend.full_size else 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((rows, INPUTS)).astype(DTYPE)
    w = rng.standard_normal((INPUTS, DEFAULT_HIDDEN)).astype(DTYPE)
    dz = rng.standard_normal((rows, DEFAULT_HIDDEN)).astype(DTYPE)
    checked = []
    for name, result, a, b in (
        ("x @ W1", backend.matmul(x, w), x, w),
        ("x.T @ dz", backend.matmul_tn(x, dz), x.T, dz),
        ("dz @ W1.T", backend.matmul_nt(dz, w), dz, w.T),
    ):
        assert_matmul_within_bound(result, np.ascontiguousarray(a), np.ascontiguousarray(b))
        checked.append(f"{name} ({rows} rows)")
    return checked


def measure_level() -> dict:
    """This process's level: what ran, the validation, and each backend's fastest round per block (seconds
    a sample)."""
    import threadpoolctl

    from bench.harness import DTYPE, choose_data, settle, trainer_epoch
    from kernels import get_backend

    data = choose_data()
    sides = {
        name: trainer_epoch(data, name, samples=LOOPS_SAMPLES if name == LOOPS else SAMPLES, batch=BATCH)
        for name in WIDTH_BACKENDS
    }
    validated = {name: validate(name) for name in WIDTH_BACKENDS}
    for side in sides.values():  # compile, first touch
        side.prepare()
        side.run()
    fastest: dict[str, list[float]] = {name: [] for name in WIDTH_BACKENDS}
    while len(fastest[WIDTH_BACKENDS[0]]) < MAX_BLOCKS and not all(
        sum(at_full_speed(fastest[slow], fastest[fast])) >= BLOCKS for slow, fast in WIDTH_SPEEDUPS.values()
    ):  # a block the machine slowed is measured again, as the headline's spares do
        rounds: dict[str, list[float]] = {name: [] for name in WIDTH_BACKENDS}
        for _ in range(ROUNDS):
            for name, side in sides.items():
                settle()
                side.prepare()
                start = time.perf_counter()
                side.run()
                rounds[name].append((time.perf_counter() - start) / side.info["samples"])
        for name in WIDTH_BACKENDS:
            fastest[name].append(min(rounds[name]))
    blas = next((i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"), {})
    return {
        "isa": target_isa().value,
        "vector_bits": target_isa().vector_bytes * 8,
        "numba_cpu": target_cpu_name(),
        "openblas_core": blas.get("architecture", "unknown"),
        "numba": get_backend(COMPILED).describe(np.dtype(DTYPE)),
        "dataset": data.name,
        "batch": BATCH,
        "validated": validated,
        "fastest_seconds_per_sample": fastest,
    }


# --- all levels ------------------------------------------------------------------------------------------


def run_levels(isas: Sequence[Isa | None], progress=print) -> list[dict]:
    out = []
    for isa in isas:
        name = "this CPU's own" if isa is None else isa.value
        progress(f"{name}: compiling, validating, timing ...")
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "bench.widths", "--one-level"],
            env=_environment(isa),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise SystemExit(f"bench.widths: {name} failed: {last}")
        level = json.loads(done.stdout.strip().splitlines()[-1])
        out.append(level | {"date": datetime.now(timezone.utc).isoformat(timespec="seconds")})
        progress(f"{name}: done in {time.perf_counter() - started:.0f} s")
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.widths", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for widths.json (default: the machine's)"
    )
    parser.add_argument("--one-level", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one_level:
        print(json.dumps(measure_level()))
        return 0
    from network.files import atomic_write
    from reports.machines import MACHINES_DIR, WIDTHS, host_machine_id

    results = run_levels(levels())
    folder = args.out or MACHINES_DIR / host_machine_id()
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_write(folder / WIDTHS, "w") as file:
        file.write(json.dumps(results, indent=2) + "\n")
    print(f"wrote {folder / WIDTHS}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
