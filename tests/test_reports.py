"""The report builder on a small synthetic pytest-benchmark JSON: files, atomicity, findings, CLI errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import reports.build as build
from bench.harness import training_flops
from reports import analysis
from reports.analysis import findings
from reports.results import load_results

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _bench(study: str, median: float, rounds: int = 3, **info) -> dict:
    """One benchmark as pytest-benchmark writes it, with the extra_info bench/ records."""
    spread = median * 0.05
    return {
        "group": study,
        "name": f"test_{study}[{info.get('backend', '')}-{len(info)}]",
        "extra_info": {"study": study, "threads": 2, **info},
        "stats": {
            "median": median,
            "iqr": spread,
            "q1": median - spread / 2,
            "q3": median + spread / 2,
            "min": median - spread,
            "max": median + spread,
            "mean": median,
            "stddev": spread,
            "rounds": rounds,
            "iterations": 1,
        },
    }


def _epoch(
    study: str, backend: str, seconds: float, *, samples=60_000, batch=128, hidden=128, threads=2
) -> dict:
    return _bench(
        study,
        seconds,
        backend=backend,
        samples=samples,
        epoch_samples=60_000,
        batch=batch,
        hidden=hidden,
        threads=threads,
        flops_per_sample=training_flops([784, hidden, 10], 1),
        dataset="fashion-mnist",
    )


def synthetic_run(*, numba_epoch: float = 0.5, pytorch: bool = False, real_data: bool = True) -> dict:
    """A small complete run: numba's epoch time is the knob the findings must follow."""
    benchmarks = [
        _bench("peak", 0.2, backend="numpy", kernel="sgemm", shape="2048^3", flops=2 * 2048**3, threads=1),
        _bench("peak", 0.1, backend="numpy", kernel="sgemm", shape="2048^3", flops=2 * 2048**3, threads=2),
        _epoch("epoch", "loops", 3.0, samples=512),
        _epoch("epoch", "numpy", 1.0),
        _epoch("epoch", "numba", numba_epoch),
    ]
    if pytorch:
        benchmarks.append(_epoch("epoch", "pytorch", 0.4))
    products = [
        ("matmul_forward", "X @ W1", 25_690_112),
        ("matmul_weight_grad", "X.T @ dZ1", 25_690_112),
        ("matmul_input_grad", "dZ2 @ W2.T", 327_680),
    ]
    benchmarks.append(_bench("optimizer", 1e-4, backend="numpy", kernel="momentum update"))
    benchmarks.append(_bench("gather", 2e-5, backend="numpy", kernel="batch gather", batch=128))
    for kernel, median in [("forward product", 2e-5), ("weight gradient + update", 4e-5)]:
        benchmarks.append(
            _bench("small_batch", median, backend="numba", kernel=kernel, batch=8, flops=2 * 8 * 784 * 128)
        )
    for kernel, shape, flops in [*products, ("relu", "(128x128)", 0)]:
        for backend, median in [("loops", 0.3), ("numpy", 1e-4), ("numba", 2e-4)]:
            extra = {"flops": flops} if flops else {"bytes": 131_072}
            benchmarks.append(_bench("kernel", median, backend=backend, kernel=kernel, shape=shape, **extra))
    # numba wins the small batches, numpy the large: one crossover, between 8 and 128
    for batch, numpy_s, numba_s in [(1, 2.0, 1.0), (8, 0.5, 0.3), (128, 0.1, 0.2)]:
        benchmarks += [
            _epoch("batch", "numpy", numpy_s, samples=8192, batch=batch),
            _epoch("batch", "numba", numba_s, samples=8192, batch=batch),
        ]
    for hidden, scale in [(64, 1.0), (512, 6.0)]:
        benchmarks += [
            _epoch("width", b, 0.1 * scale, samples=8192, hidden=hidden) for b in ("numpy", "numba")
        ]
    for threads, seconds in [(1, 0.2), (2, 0.12)]:
        benchmarks += [
            _epoch("threads", b, seconds, samples=8192, threads=threads) for b in ("numpy", "numba")
        ]
    for batch, composed_s, fused_s in [(1, 4.0, 2.0), (128, 0.2, 0.19)]:
        for fused, seconds in [(False, composed_s), (True, fused_s)]:
            point = _epoch("technique", "numba", seconds, samples=8192, batch=batch)
            point["extra_info"] |= {
                "fused": fused,
                "technique": "fused training step",
                "expected_gain": 1.5,
                "expected_why": "fewer calls",
            }
            benchmarks.append(point)
    history = [
        {
            "epoch": e,
            "train_loss": 1.0 / e,
            "train_accuracy": 0.8,
            "test_accuracy": 0.7 + 0.05 * e,
            "seconds": 0.1,
            "samples_per_second": 1e4,
            "eval_seconds": 0.01,
            "lr": 0.1,
        }
        for e in (1, 2, 3)
    ]
    for backend in ("loops", "numpy", "numba"):
        benchmarks.append(
            _bench(
                "curve",
                1.0,
                rounds=1,
                backend=backend,
                batch=32,
                samples=1000,
                test_samples=1000,
                lr=0.1,
                dataset="fashion-mnist",
                history=history,
            )
        )
    data = {
        "name": "fashion-mnist",
        "real": True,
        "source": "/data/fashion-mnist",
        "n_train": 60_000,
        "n_test": 10_000,
        "notes": ["mnist: not found"],
    }
    if not real_data:
        data |= {"name": "random", "real": False, "source": "numpy.random.default_rng(0)"}
    return {
        "machine_info": {"cpu": {"brand_raw": "Test CPU", "count": 2, "arch": "X86_64"}, "system": "Linux"},
        "commit_info": {"id": "0123456789abcdef", "branch": "main", "dirty": False},
        "datetime": "2026-01-01T00:00:00+00:00",
        "version": "5.2.3",
        "benchmarks": benchmarks,
        "scratchnet": {
            "python": "3.11",
            "numpy": "2.0",
            "numba": "0.60",
            "torch": "2.13" if pytorch else None,
            "blas": [{"internal_api": "openblas", "version": "0.3", "architecture": "Haswell"}],
            "available_cores": 2,
            "quick": False,
            "data": data,
            "settings": {"epoch_samples": 60_000, "loops_samples": 512, "sweep_samples": 8192},
        },
    }


def write_run(folder: Path, **kwargs) -> Path:
    path = folder / "benchmark.json"
    path.write_text(json.dumps(synthetic_run(**kwargs)))
    return path


def report_text(folder: Path, **kwargs) -> str:
    """The report's markdown alone (no figures drawn): enough for tests of what it says."""
    return build.render(load_results(write_run(folder, **kwargs)), figures=[])


def test_build_writes_the_report_its_figures_and_csv(tmp_path):
    report = build.build_report(write_run(tmp_path))
    assert report == tmp_path / "performance.md"
    text = report.read_text()
    for name in build.FIGURES:
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
        assert f"]({name})" in text
    csv = (tmp_path / "benchmarks.csv").read_text().splitlines()
    assert csv[0].startswith("name,group,study,backend") and len(csv) == 1 + len(
        synthetic_run()["benchmarks"]
    )
    assert len((tmp_path / "training_curves.csv").read_text().splitlines()) == 1 + 3 * 3
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary file left behind
    for section in (
        "## Findings",
        "## Machine and software",
        "## One training epoch",
        "## Kernels",
        "## Targets",
    ):
        assert section in text
    assert "Test CPU" in text and "fashion-mnist" in text and "*scaled*" in text


def test_every_file_is_written_atomically(tmp_path, monkeypatch):
    written = []
    real_atomic_write = build.atomic_write

    def recording(path, mode="wb"):
        written.append(Path(path).name)
        return real_atomic_write(path, mode)

    monkeypatch.setattr(build, "atomic_write", recording)
    build.build_report(write_run(tmp_path))
    assert set(written) == {"performance.md", "benchmarks.csv", "training_curves.csv", *build.FIGURES}


def test_a_failed_build_leaves_the_previous_report_intact(tmp_path, monkeypatch):
    path = write_run(tmp_path)
    (tmp_path / "performance.md").write_text("the previous report\n")

    def broken(*args):
        raise RuntimeError("boom")

    monkeypatch.setattr(build, "FIGURES", {})  # drawing them would only take time
    monkeypatch.setattr(build, "render", broken)
    with pytest.raises(RuntimeError):
        build.build_report(path)
    assert (tmp_path / "performance.md").read_text() == "the previous report\n"
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.parametrize(
    ("numba_epoch", "winner", "loser"), [(0.5, "numba", "numpy"), (2.0, "numpy", "numba")]
)
def test_findings_follow_the_numbers(tmp_path, numba_epoch, winner, loser):
    sentences = findings(load_results(write_run(tmp_path, numba_epoch=numba_epoch)))
    first = sentences[0]
    assert f"fastest backend is **{winner}**" in first
    assert f"2x faster than {loser}" in first
    assert any("crossover lies between batch 8 and 128 (numba below, numpy above)" in s for s in sentences)


def test_a_missing_pytorch_row_is_stated(tmp_path):
    text = report_text(tmp_path, pytorch=False)
    assert "PyTorch: not measured in this run" in text
    assert "PyTorch was not measured in this run" in text
    assert "| pytorch |" not in text


def test_a_measured_pytorch_row_is_shown(tmp_path):
    text = report_text(tmp_path, pytorch=True)
    assert "| pytorch |" in text
    assert "PyTorch (2.13, 2 threads) trains the same epoch in 400 ms: 2.5x faster than numpy" in text


def test_random_data_is_labelled(tmp_path):
    text = report_text(tmp_path, real_data=False)
    assert "**random data**" in text and "the training curves mean nothing" in text


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reports.build", *args], cwd=ROOT, capture_output=True, text=True
    )


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ('{"benchmarks": 3}', "not a pytest-benchmark JSON"),
    ],
)
def test_a_bad_json_is_a_one_line_error(tmp_path, content, reason):
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    result = _cli(str(path))
    assert result.returncode in (1, 2)
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and reason in lines[0]


def test_the_cli_builds_into_another_folder(tmp_path):
    out = tmp_path / "out"
    result = _cli(str(write_run(tmp_path)), "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert (out / "performance.md").is_file()


def test_a_partial_run_still_builds_and_says_what_is_missing(tmp_path):
    run = synthetic_run()
    run["benchmarks"] = [b for b in run["benchmarks"] if b["extra_info"]["study"] == "peak"]
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(run))
    text = build.render(load_results(path), figures=[])
    assert "## One training epoch\n\n_Not measured in this run._" in text
    assert "| 2 | 172 |" in text  # the sgemm rate that was measured: 2 * 2048^3 flop in 0.1 s


def test_technique_gains_are_measured_beside_the_expectation(tmp_path):
    text = report_text(tmp_path)
    section = text.split("## What the fused step bought")[1].split("##")[0]
    rows = [line for line in section.splitlines() if line.startswith("| fused training step")]
    assert len(rows) == 2
    assert "| 1 |" in rows[0] and "| 2x |" in rows[0] and "| 1.5x |" in rows[0]  # 4.0 s / 2.0 s measured
    assert "| 128 |" in rows[1] and "| 1.1x |" in rows[1]  # 0.2 / 0.19 = 1.05, as the report rounds it


def section(text: str, heading: str) -> str:
    """The body of the report's section ``## heading``."""
    return text.split(f"## {heading}")[1].split("\n## ")[0]


def report_with_repeat(tmp_path: Path, **repeat) -> str:
    """The report of the default synthetic run, checked against a repeat run made with ``repeat``."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    return build.build_report(write_run(first), repeat=write_run(second, **repeat)).read_text()


def test_repeatability_compares_the_ratios_of_two_runs(tmp_path):
    repeatability = section(report_with_repeat(tmp_path, numba_epoch=0.6), "Repeatability")
    row = next(line for line in repeatability.splitlines() if line.startswith("| numba epoch / numpy epoch"))
    assert "| 0.5 | 0.6 | 18.2% |" in row  # |0.5 - 0.6| / 0.55
    assert "largest: 18.2%" in repeatability
    assert "## Repeatability" not in report_text(tmp_path)


def test_the_numpy_step_budget_adds_up_to_the_step(tmp_path):
    budget = analysis.numpy_step_budget(load_results(write_run(tmp_path)))
    parts = budget.set_index("part")["seconds"]
    step = 1.0 / (60_000 / 128)  # the numpy epoch per step
    assert parts[analysis.STEP] == pytest.approx(step)
    assert parts[analysis.PRODUCTS_PART] == pytest.approx(3e-4)  # three products at 1e-4 s
    assert parts[analysis.GATHER_PART] == pytest.approx(2e-5)
    assert parts.drop(analysis.STEP).sum() == pytest.approx(step)  # the rest is the difference
    text = report_text(tmp_path, pytorch=True)
    assert "and the trainer's batch gather alone take 320 µs" in text
    # floor: 24.5 GFLOP at 172 GFLOP/s over 468.75 steps, 305 µs a step; PyTorch 0.4 s, 853 µs a step
    assert "Staying within 1.4x the floor leaves 107 µs for the rest of the step" in text
    assert "staying within 0.75x PyTorch's 853 µs step leaves 320 µs for the rest of the step" in text


def test_the_small_batch_bound_follows_the_kernels(tmp_path):
    text = report_text(tmp_path)
    # batch 8: numpy 0.5 s per 8,192 samples -> 488 µs a step, a quarter of it 122 µs; numba 293 µs a
    # step; its two kernels 60 µs, both at the forward product's rate (1.6 MFLOP in 20 µs) 40 µs
    assert "a 4x lead over numpy's 488 µs step needs a numba step of at most 122 µs" in text
    assert (
        "numba's step takes 293 µs, of which its forward product and fused weight update take 60 µs" in text
    )
    assert "would take 40 µs, and with the rest of the step as measured (233 µs) the step 273 µs" in text


def test_a_second_core_that_did_not_help_numba_is_flagged(tmp_path):
    assert "gained nothing measurable from the second core" not in report_text(tmp_path)  # 1.7x
    run = synthetic_run()
    for bench in run["benchmarks"]:
        if bench["extra_info"]["study"] == "threads" and bench["extra_info"]["backend"] == "numba":
            bench["stats"]["median"] = 0.2  # as slow with two threads as with one
    (tmp_path / "benchmark.json").write_text(json.dumps(run))
    text = build.render(load_results(tmp_path / "benchmark.json"), figures=[])
    assert "numba epoch 1x faster" in text and "gained nothing measurable from the second core" in text


def test_a_target_the_repeat_run_judges_otherwise_says_so(tmp_path):
    # numba epoch / numpy epoch must be at most 1.5: 0.5 in this run, 2.0 in the repeat
    targets = section(report_with_repeat(tmp_path, numba_epoch=2.0), "Targets")
    row = next(line for line in targets.splitlines() if line.startswith("| numba epoch / numpy epoch"))
    assert row.endswith("| yes (repeat: no) |")
    alone = section(report_text(tmp_path), "Targets")
    assert "| numba epoch / numpy epoch, batch 128 | 0.5 | ≤ 1.5 (aim < 1) | yes |" in alone
    assert "repeat" not in alone
