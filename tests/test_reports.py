"""The report builder on synthetic pytest-benchmark JSON: the data frames it computes, the figures' data,
the files it writes, and its command lines. The tests assert on the values the report's sentences are built
from, not on the sentences; one, ``test_a_partial_run_builds_and_says_what_is_missing``, reads the rendered
markdown."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import reports.build as build
from bench.harness import training_flops
from network.files import TEMP_SUFFIX, OutputRefused
from reports import analysis, figures
from reports.fmt import times
from reports.readme import performance_section, update_section
from reports.results import load_results

ROOT = Path(__file__).resolve().parents[1]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NETWORK = [784, 64, 10]  # not the benchmarks' default: the report must read it from the rows


def _bench(study: str, median: float, rounds: int = 3, data=None, **info) -> dict:
    """One benchmark as pytest-benchmark writes it, with the extra_info bench/ records."""
    spread = median * 0.05
    return {
        "group": study,
        "name": f"test_{study}[{'-'.join(str(v) for v in info.values())}]",
        "extra_info": {"study": study, "threads": 2, **info},
        "stats": {
            "median": median,
            "iqr": spread,
            "min": median - spread,
            "max": median + spread,
            "rounds": rounds,
            "iterations": 1,
            "data": data or [median] * rounds,
        },
    }


def _epoch(
    study: str,
    backend: str,
    seconds: float,
    *,
    samples=60_000,
    batch=32,
    hidden=64,
    threads=2,
    optimizer="momentum",
) -> dict:
    sizes = [NETWORK[0], hidden, NETWORK[-1]]
    return _bench(
        study,
        seconds,
        backend=backend,
        samples=samples,
        epoch_samples=60_000,
        batch=batch,
        hidden=hidden,
        threads=threads,
        layer_sizes=sizes,
        flops_per_sample=training_flops(sizes, 1),
        dataset="mnist",
        dtype="float64",
        optimizer=optimizer,
    )


def _headline(quantity: str, a: list[float], b: list[float], bound=None, sense=None, scale=1.0) -> dict:
    row = _bench(
        "headline",
        float(np.median(a)),
        rounds=len(a),
        data=a,
        quantity=quantity,
        a="a",
        b="b",
        b_seconds=b,
        sync_us=[1.4] * len(a),
        scale=scale,
        bound=bound,
        sense=sense,
    )
    return row


def _blocks(
    quantity: str, ratio: float, bound: float, sense: str, blocks: int = 2, threads: tuple[int, int] = (2, 2)
) -> list[dict]:
    """A headline quantity measured at ``ratio`` in every pair of ``blocks`` blocks, while the machine's
    state moves from pair to pair; its sides ran on ``threads``."""
    drifting = [1.0, 3.0, 1.5, 2.0, 1.2]
    rows = [_headline(quantity, [ratio * s for s in drifting], drifting, bound, sense) for _ in range(blocks)]
    for k, row in enumerate(rows):
        row["name"] += f"-block{k}"
        row["extra_info"].update(block=k, a_info={"threads": threads[0]}, b_info={"threads": threads[1]})
    return rows


def synthetic_run(*, numba_epoch: float = 0.5, pytorch: bool = False, two_core_rate: float = 380.0) -> dict:
    """A small complete run. The machine: FP32 peak 200 GFLOP/s on one core at 512 bits (105 at 256: the
    wide FMAs run at full width), ``two_core_rate`` on both; FP64 half of each (190 on both by default)."""
    benchmarks = [
        *[
            _bench(
                "peak",
                1.0,
                flops=half * rate * 1e9,
                dtype=dtype,
                vector_bits=512,
                threads=t,
                when=w,
                chains=12,
                asm_ok=True,
                isa="avx512f",
            )
            for dtype, half in (("float32", 1.0), ("float64", 0.5))
            for t, rate in ((1, 200.0), (2, two_core_rate))
            for w in ("start", "end")
        ],
        *[
            _bench(
                "peak",
                1.0,
                flops=half * 105e9,
                dtype=dtype,
                vector_bits=256,
                threads=1,
                when="start",
                chains=12,
            )
            for dtype, half in (("float32", 1.0), ("float64", 0.5))
        ],
        *[
            _bench("bandwidth", 1.0, bytes=gb * 1e9, level=level, working_set=ws, threads=t)
            for level, ws, gb in (("L1", 2**14, 300.0), ("DRAM", 2**28, 20.0))
            for t in (1, 2)
        ],
        _bench("sgemm", 0.1, flops=2 * 2048**3, shape="2048^3", backend="numpy", threads=2),
        _epoch("epoch", "loops", 3.0, samples=512),
        _epoch("epoch", "numpy", 1.0),
        _epoch("epoch", "numba", numba_epoch),
        *_blocks("numba epoch / numpy epoch, batch 32", 0.5, 0.7, "at most"),
        *_blocks("numpy epoch / numba epoch, batch 8", 3.0, 3.0, "at least"),
        *_blocks("numba epoch, 1 thread / all threads", 1.2, 1.6, "at least", threads=(1, 2)),
    ]
    if pytorch:
        benchmarks.append(_epoch("epoch", "pytorch", 0.4))
    for kernel, shape, flops, nbytes in [
        ("matmul_forward", "X @ W1", 3.2e6, 4e5),
        ("relu", "(32x64)", 2048, 16384),
    ]:
        for backend, median in [("loops", 0.3), ("numpy", 1e-4), ("numba", 2e-4)]:
            benchmarks.append(
                _bench(
                    "kernel", median, backend=backend, kernel=kernel, shape=shape, flops=flops, bytes=nbytes
                )
            )
    for batch, numpy_s, numba_s in [(1, 2.0, 1.0), (8, 0.5, 0.3), (128, 0.1, 0.2)]:  # one crossover
        benchmarks += [
            _epoch("batch", "numpy", numpy_s, samples=8192, batch=batch),
            _epoch("batch", "numba", numba_s, samples=8192, batch=batch),
        ]
    for hidden, scale in [(64, 1.0), (512, 6.0)]:
        benchmarks += [
            _epoch("width", b, 0.1 * scale, samples=8192, hidden=hidden) for b in ("numpy", "numba")
        ]
    history = [{"epoch": e, "train_loss": 1.0 / e, "test_accuracy": 0.7 + 0.05 * e} for e in (1, 2, 3)]
    benchmarks += [
        _bench("curve", 1.0, 1, backend=b, samples=1000, test_samples=1000, dataset="mnist", history=history)
        for b in ("loops", "numpy", "numba")
    ]
    return {
        "machine_info": {"cpu": {"brand_raw": "Test CPU"}},
        "commit_info": {"id": "0123456789abcdef", "dirty": False},
        "datetime": "2026-01-01T00:00:00+00:00",
        "benchmarks": benchmarks,
        "scratchnet": {
            "available_cores": 2,
            "quick": False,
            "numpy": "2.0",
            "env": {"OPENBLAS_CORETYPE": None},
            "data": {"name": "mnist", "real": True, "source": "/data/mnist", "n_train": 60_000},
        },
    }


def write_run(folder: Path, name: str = "benchmark.json", **kwargs) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(synthetic_run(**kwargs)))
    return path


def results(tmp_path: Path, **kwargs):
    return load_results(write_run(tmp_path, **kwargs))


def test_the_machine_limits_come_from_the_probe(tmp_path):
    r = results(tmp_path)
    # all cores, widest vectors; not sgemm's 172
    assert analysis.peak_rate(r, "float32") == pytest.approx(380)
    assert analysis.peak_rate(r) == pytest.approx(190)  # by default in the dtype the network trains in
    assert analysis.core_scaling(r) == pytest.approx(0.95)  # 190 / (2 x 100)
    assert analysis.core_scaling(results(tmp_path / "shared", two_core_rate=210.0)) == pytest.approx(0.525)
    assert analysis.width_gain(r) == pytest.approx((256, 512, 100 / 52.5))
    assert analysis.peak_drift(r) == pytest.approx(0.0)
    assert analysis.bandwidth(r).loc["DRAM", 2] == pytest.approx(20)
    assert list(analysis.bandwidth(r).index) == ["L1", "DRAM"]
    epochs = analysis.epoch_table(r)
    flops = training_flops(NETWORK, 60_000)
    assert epochs.at["numba", "floor_seconds"] == pytest.approx(flops / 190e9)  # the epochs run in float64
    assert epochs.at["numba", "floor_ratio"] == pytest.approx(0.5 / (flops / 190e9))


def test_a_block_ratio_is_its_sides_fastest_rounds():
    # the machine slowed some rounds of each side, never sped one up: the fastest rounds are the code's own
    drift = [1.0, 3.0, 1.5, 2.0, 1.2]
    assert analysis.block_ratio([0.5 * s for s in drift], drift[::-1]) == pytest.approx(0.5)
    assert analysis.block_ratio([0.5 * s for s in drift], drift, scale=4.0) == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("a_fastest", "b_fastest", "expected"),
    [
        ([1.0, 1.05, 1.2], [2.0, 2.0, 2.0], [True, True, False]),  # a slowed by 20% in the third block
        ([1.0, 1.0, 1.0], [2.0, 2.3, 2.19], [True, False, True]),  # b by 15% in the second, 9.5% in the third
        ([1.0], [2.0], [True]),
    ],
)
def test_a_block_is_slowed_when_either_side_ran_slower_than_its_best(a_fastest, b_fastest, expected):
    assert analysis.at_full_speed(a_fastest, b_fastest) == expected


def test_slowed_blocks_are_shown_apart_not_averaged_in(tmp_path):
    run = synthetic_run()
    # the third block's a side: 1.5 at best, 50% above the best of the run
    blocks = [([1.0, 1.4], [2.0, 2.0]), ([1.02, 1.0], [2.0, 2.1]), ([1.5, 1.6], [2.0, 2.0])]
    for k, (a, b) in enumerate(blocks):
        bench = _headline("numba epoch / numpy epoch, batch 64", a, b)
        bench["extra_info"]["block"], bench["name"] = k, f"{bench['name']}-block{k}"
        run["benchmarks"].append(bench)
    (tmp_path / "benchmark.json").write_text(json.dumps(run))
    row = (
        analysis.headline(load_results(tmp_path / "benchmark.json"))
        .set_index("quantity")
        .loc["numba epoch / numpy epoch, batch 64"]
    )
    assert row["blocks"] == pytest.approx([0.5, 0.5]) and row["slowed"] == pytest.approx([0.75])
    assert row["ratio"] == pytest.approx(0.5) and row["pairs"] == 6


def test_the_interval_is_over_the_blocks():
    # the blocks disagree (the machine moved between them): Student's t over the blocks, not over their pairs
    ratio, low, high = analysis.blocks_interval([1.0, 1.2, 0.9, 1.1])
    logs = np.log([1.0, 1.2, 0.9, 1.1])
    half = 3.182446 * logs.std(ddof=1) / 2  # Student's t, 3 degrees of freedom, 97.5%
    assert ratio == pytest.approx(np.exp(logs.mean()), rel=1e-9)
    assert (low, high) == pytest.approx((np.exp(logs.mean() - half), np.exp(logs.mean() + half)), rel=1e-6)
    assert analysis.blocks_interval([1.0])[1:3] == pytest.approx((np.nan, np.nan), nan_ok=True)


@pytest.mark.parametrize(("df", "table"), [(1, 12.7062), (2, 4.3027), (5, 2.5706), (30, 2.0423)])
def test_t_quantile_matches_the_tables(df, table):
    assert analysis.t_quantile(0.975, df) == pytest.approx(table, abs=1e-4)


def test_each_block_of_a_ratio_keeps_its_scale(tmp_path):
    run = synthetic_run()
    first = _headline("numpy epoch / floor", [1.0] * 4, [0.5] * 4, scale=0.25)  # 0.5 in this block
    second = _headline("numpy epoch / floor", [1.0] * 3, [0.2 / 0.52] * 3, scale=0.2)  # 0.52: its own scale
    first["extra_info"]["block"], second["extra_info"]["block"] = 0, 1
    second["name"] += "-block1"
    run["benchmarks"] += [second, first]
    (tmp_path / "benchmark.json").write_text(json.dumps(run))
    row = (
        analysis.headline(load_results(tmp_path / "benchmark.json"))
        .set_index("quantity")
        .loc["numpy epoch / floor"]
    )
    assert row["pairs"] == 7 and row["ratio"] == pytest.approx(np.sqrt(0.5 * 0.52))
    assert row["a_fastest"] == pytest.approx(1.0) and row["b_fastest"] == pytest.approx(0.2 / 0.52)
    assert row["blocks"] == pytest.approx([0.5, 0.52]) and row["slowed"] == []


@pytest.mark.parametrize(
    ("low", "high", "bound", "sense", "expected"),
    [
        (0.5, 0.6, 0.7, "at most", "met"),
        (0.6, 0.8, 0.7, "at most", "unclear"),
        (0.8, 0.9, 0.7, "at most", "not met"),
        (3.1, 3.5, 3.0, "at least", "met"),
        (2.5, 3.5, 3.0, "at least", "unclear"),
        (2.0, 2.9, 3.0, "at least", "not met"),
        (2.0, 2.9, None, None, ""),
    ],
)
def test_verdicts_follow_the_interval(low, high, bound, sense, expected):
    assert analysis.verdict(low, high, bound, sense) == expected


def test_headline_rows(tmp_path):
    h = analysis.headline(results(tmp_path)).set_index("quantity")
    row = h.loc["numba epoch / numpy epoch, batch 32", ["ratio", "verdict", "pairs"]]
    assert row.tolist() == [pytest.approx(0.5), "met", 10]
    assert h.at["numpy epoch / numba epoch, batch 8", "verdict"] == "met"  # 3.0 exactly: at least 3
    assert h.at["numba epoch, 1 thread / all threads", "verdict"] == "not met"  # 1.2 < 1.6, cores independent
    shared = analysis.headline(results(tmp_path, two_core_rate=210.0)).set_index("quantity")
    assert shared.at["numba epoch, 1 thread / all threads", "verdict"] == ""  # the bound's premise fails


def _run_row(log_ratio: float, se: float, blocks: int = 6) -> pd.Series:
    """A headline row whose interval is ``blocks_interval``'s for a log-ratio with standard error ``se``."""
    half = analysis.t_quantile((1 + analysis.CONFIDENCE) / 2, blocks - 1) * se
    return pd.Series(
        {"ratio": math.exp(log_ratio), "low": math.exp(log_ratio - half), "high": math.exp(log_ratio + half)}
        | {"blocks": [math.exp(log_ratio)] * blocks}
    )


@pytest.mark.parametrize("difference", [0.0, 0.03, 0.05])
def test_shift_between_runs_is_in_standard_errors_of_the_difference(difference):
    # both runs' standard errors 0.01: the difference's is 0.01 sqrt 2, not their sum 0.02. 0.03 lies
    # outside the other run's interval (half-width t(0.975, 5) 0.01 = 0.026) yet 2.1 s.e. apart; 0.05 is
    # 3.5 s.e. apart (the sum would say 2.5, within SEPARATED)
    shift = analysis.shift([_run_row(0.0, 0.01), _run_row(difference, 0.01)])
    assert shift == pytest.approx(difference / math.hypot(0.01, 0.01), rel=1e-6)


def test_runs_side_by_side(tmp_path):
    same = analysis.compare([results(tmp_path / "a"), results(tmp_path / "b")])
    assert same["agree"].all() and same["same_verdict"].all()
    other = synthetic_run(numba_epoch=0.5)
    for bench in other["benchmarks"]:
        if bench["extra_info"].get("quantity") == "numba epoch / numpy epoch, batch 32":
            bench["stats"]["data"] = [0.8 * s for s in bench["extra_info"]["b_seconds"]]
            bench["extra_info"]["sync_us"] = [2.6] * len(bench["stats"]["data"])  # the cores met slower
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / "benchmark.json").write_text(json.dumps(other))
    assert (same["shift_se"] == 0).all() and not same["contradicts"].any()
    differ = analysis.compare([results(tmp_path / "a"), load_results(tmp_path / "c" / "benchmark.json")])
    row = differ.set_index("quantity").loc["numba epoch / numpy epoch, batch 32"]
    assert not row["agree"] and not row["same_verdict"] and row["verdict_1"] == "not met"
    assert row["shift_se"] > analysis.SEPARATED  # 0.5 -> 0.8 with no spread in either run's blocks
    assert row["contradicts"]  # met in run 1, not met in run 2
    # the fastest rounds: side a moved, side b (fastest 1.0 in both) did not
    assert row["a_1"] == pytest.approx(0.8 * 1.0) and row["a_0"] == pytest.approx(0.5 * 1.0)
    assert row["b_0"] == row["b_1"] == pytest.approx(1.0)
    assert (row["sync_0"], row["sync_1"]) == pytest.approx((1.4, 2.6))  # the cores met slower in run 2


@pytest.mark.slow
def test_build_writes_every_file_atomically(tmp_path, monkeypatch):
    written = []
    real = build.atomic_write
    monkeypatch.setattr(
        build, "atomic_write", lambda path, mode="wb": written.append(Path(path).name) or real(path, mode)
    )
    report = build.build_report(write_run(tmp_path))
    assert set(written) == {"performance.md", "benchmarks.csv", "headline.csv", *build.FIGURES}
    for name in build.FIGURES:
        assert (tmp_path / name).read_bytes().startswith(PNG_MAGIC)
        assert f"]({name})" in report.read_text()
    csv = pd.read_csv(tmp_path / "headline.csv")
    assert list(csv.columns) == ["quantity", "ratio", "low", "high", "bound", "verdict"]
    assert csv.set_index("quantity").at["numba epoch / numpy epoch, batch 32", "bound"] == "≤ 0.7"
    assert not list(tmp_path.glob(f".*{TEMP_SUFFIX}"))


@pytest.mark.slow
def test_a_failed_build_leaves_the_previous_report_intact(tmp_path, monkeypatch):
    """Its figures and tables too: nothing is written until everything is rendered."""
    path = write_run(tmp_path)
    (tmp_path / "performance.md").write_text("the previous report\n")
    monkeypatch.setattr(build, "render", lambda *args: 1 / 0)
    with pytest.raises(ZeroDivisionError):
        build.build_report(path)
    assert (tmp_path / "performance.md").read_text() == "the previous report\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "performance.md"])


@pytest.mark.slow
def test_a_report_file_that_cannot_be_written_is_refused_before_any_is_written(tmp_path):
    path = write_run(tmp_path)
    (tmp_path / "performance.md").mkdir()
    with pytest.raises(OutputRefused, match="performance.md is a folder, not a regular file$"):
        build.build_report(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([path.name, "performance.md"])


def test_the_report_reads_the_setup_from_the_rows(tmp_path):
    r = results(tmp_path)
    fig = figures.epoch_time(r)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights[:3] == pytest.approx([3.0 * 60_000 / 512, 1.0, 0.5])
    assert "[784, 64, 10], float64, mnist" in fig.axes[0].get_title()


def test_the_roofline_places_every_kernel_of_every_backend(tmp_path):
    r = results(tmp_path)
    fig = figures.roofline(r)
    points = np.vstack([c.get_offsets() for c in fig.axes[0].collections])
    assert len(points) == len(r.study("kernel")) == 6
    assert sorted(points[:, 0]) == pytest.approx(sorted(r.study("kernel")["intensity"]))
    # the peak roof, in the network's dtype: these kernel rows recorded none
    assert any(line.get_ydata()[0] == pytest.approx(190) for line in fig.axes[0].lines)


def test_the_claims_figure_shows_each_bounded_ratio_over_its_bound(tmp_path):
    fig = figures.headline(results(tmp_path))
    labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert "numba epoch / numpy epoch, batch 32 (≤ 0.7)" in labels and len(labels) == 3
    # an upper bound turned over: 0.7 / 0.5; a lower one as it is: 3.0 / 3.0, 1.2 / 1.6 (top row first)
    centres = [bars.lines[0].get_xdata()[0] for bars in fig.axes[0].containers]
    assert centres == pytest.approx([0.7 / 0.5, 3.0 / 3.0, 1.2 / 1.6])


def test_a_partial_run_builds_and_says_what_is_missing(tmp_path):
    run = synthetic_run()
    run["benchmarks"] = [b for b in run["benchmarks"] if b["extra_info"]["study"] == "peak"]
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(run))
    report = build.build_report(path).read_text()
    assert f"## One training epoch\n\n{build.NOT_MEASURED}" in report


def test_the_findings_numbers(tmp_path):
    """What the findings state: the fastest backend, the batch-size crossover, and for a verdict other than
    met how many of its blocks meet the bound."""
    slow_numba = results(tmp_path, numba_epoch=2.0)
    assert analysis.epoch_table(slow_numba)["epoch_seconds"].idxmin() == "numpy"
    winners, switches, unclear = analysis.crossover(slow_numba)
    assert switches == [(8, 128)] and (winners[8], winners[128]) == ("numba", "numpy") and unclear == []
    threads = (
        analysis.headline(results(tmp_path)).set_index("quantity").loc["numba epoch, 1 thread / all threads"]
    )
    assert threads["verdict"] == "not met"  # 1.2 against at least 1.6
    assert analysis.blocks_meeting(threads["blocks"], threads["bound"], threads["sense"]) == 0
    assert len(threads["blocks"]) == 2


@pytest.mark.parametrize(("sense", "expected"), [("at most", 2), ("at least", 2), (None, 0)])
def test_blocks_meeting_a_bound_count_the_bound_itself(sense, expected):
    assert analysis.blocks_meeting([1.4, 2.46, 1.5], 1.5 if sense else math.nan, sense) == expected


def _cli(*args: str, module: str = "reports.build") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "no such file"),
        ("{not json", "not valid JSON"),
        ('{"benchmarks": 3}', "not a pytest-benchmark JSON"),
        ('{"benchmarks": []}', "not a run of scratchnet's bench/"),  # another suite's JSON
    ],
)
def test_a_bad_json_is_a_one_line_error(tmp_path, content, reason):
    path = tmp_path / "run.json"
    if content is not None:
        path.write_text(content)
    result = _cli(str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and reason in lines[0]


@pytest.mark.slow
def test_the_cli_compares_several_runs(tmp_path):
    first, second = write_run(tmp_path / "a"), write_run(tmp_path / "b", numba_epoch=0.6)
    result = _cli(str(first), str(second), "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    comparison, wrote = result.stdout.rsplit("\nwrote ", 1)  # the comparison, then the report's path
    comparison = comparison.strip()
    assert comparison and comparison in (tmp_path / "out" / "performance.md").read_text()  # as in the report
    assert wrote.strip() == str(tmp_path / "out" / "performance.md")
    row = analysis.compare([load_results(first), load_results(second)]).set_index("quantity")
    assert row.at["numba epoch / numpy epoch, batch 32", "agree"]


@pytest.mark.slow
def test_the_readme_changes_only_through_its_command(tmp_path):
    reports_dir = tmp_path / "reports"
    path = write_run(reports_dir)
    run = json.loads(path.read_text())
    run["scratchnet"]["described"] = {"numba": "blocking avx2, tile 5x16 (tuned on this machine 2026-12-07)"}
    path.write_text(json.dumps(run))
    build.build_report(path)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- performance:start -->\nold\n<!-- performance:end -->\nrest\n")
    update_section(readme, "performance", performance_section(reports_dir))
    section = performance_section(reports_dir).strip()
    marked = "<!-- performance:start -->\n" + section + "\n<!-- performance:end -->"
    assert readme.read_text() == f"intro\n{marked}\nrest\n"
    assert "Test CPU" in section  # the machine, from the run's JSON
    assert "numba ran with: blocking avx2, tile 5x16 (tuned on this machine 2026-12-07)." in section


def test_a_run_says_how_long_it_took_where_it_recorded_its_start(tmp_path):
    run = synthetic_run()
    run["scratchnet"]["started"] = "2025-12-31T23:49:39+00:00"  # 10 min 21 s before the synthetic end
    (tmp_path / "benchmark.json").write_text(json.dumps(run))
    timed = load_results(tmp_path / "benchmark.json")
    assert timed.duration == pytest.approx(621)
    assert build.run_length(timed) == ", after 10 min 21 s"
    untimed = results(tmp_path / "untimed")
    assert np.isnan(untimed.duration) and build.run_length(untimed) == ""


def test_a_sweeps_floor_is_at_the_peak_of_the_dtype_its_rows_recorded(tmp_path):
    fig = figures.batch_sweep(results(tmp_path))
    (floor,) = [line for line in fig.axes[0].lines if line.get_label() == "floor at the measured peak"]
    assert floor.get_ydata() == pytest.approx([training_flops(NETWORK, 60_000) / 190e9] * 3)  # float64


def _step_pair(quantity: str, a: dict, b: dict, a_seconds: float, b_seconds: float, bound, sense) -> dict:
    """A headline pair of epoch sides described by ``a`` and ``b`` (backend, threads), 100 steps a round."""
    pair = _headline(quantity, [a_seconds] * 3, [b_seconds] * 3, bound, sense)
    sides = {"samples": 800, "batch": 8, "optimizer": "adam", "dtype": "float32", "flops": 800 * 1e6}
    pair["extra_info"] |= {"a_info": sides | a, "b_info": sides | b}
    return pair


def _step_kernel(kernel: str, optimizer: str | None, seconds: float, threads: int = 2) -> dict:
    info = {"backend": "numba", "batch": 8, "kernel": kernel, "optimizer": optimizer, "flops": 2e5}
    info["shape"] = f"the {kernel}'s shape"
    return _bench("step_kernel", seconds, **info, threads=threads)


def _step_parts(optimizer: str, seconds: tuple[float, ...], threads: int = 2) -> list[dict]:
    """numba's forward product, weight gradient + update, output layer and step call at batch 8 on
    ``threads``."""
    names = ("forward product", "weight gradient + update", "output layer", "call from Python")
    parts = zip(names, (None, optimizer, optimizer, optimizer))
    return [_step_kernel(kernel, opt, t, threads) for (kernel, opt), t in zip(parts, seconds)]


def test_the_compiled_step_budget_splits_its_step_against_either_side(tmp_path):
    """Per optimizer and batch: both steps from the headline pair's medians (per step: samples / batch),
    the step the bound asks for (numba on either side of the ratio), the parts timed alone on the step's
    threads, the batch gather at the step's batch, what is left of numba's step, and the rates the first
    layer's products would need and run at."""
    run = synthetic_run()
    numba, numpy = {"backend": "numba", "threads": 2}, {"backend": "numpy", "threads": 2}
    run["benchmarks"] += [
        _step_pair("numpy epoch / numba epoch, batch 8, adam", numpy, numba, 0.8, 0.4, 3.0, "at least"),
        _step_pair("numba epoch / numpy epoch, batch 8, adam", numba, numpy, 0.4, 0.8, 0.7, "at most"),
        *_step_parts("adam", (1e-3, 2e-3, 0.6e-3, 0.1e-3)),  # the output layer's timing carries a call
        *_step_parts("adam", (9.0, 9.0, 9.0, 9.0), threads=1),  # not the step's threads
        *_step_parts("sgd", (1.0, 1.0, 1.0, 1.0))[1:],  # an optimizer without a pair: no row
        *(_bench("gather", t, backend="numba", batch=b) for b, t in ((8, 0.25e-3), (128, 5.0))),
        _bench("gather", 0.75e-3, backend="numpy", batch=8),  # numba's step gathers with numba
    ]
    (tmp_path / "benchmark.json").write_text(json.dumps(run))
    run_results = load_results(tmp_path / "benchmark.json")
    budget = analysis.compiled_step_budget(run_results)
    assert len(budget) == 2
    # the table's legend names the step the call was timed on, as its rows recorded it
    assert analysis.shapes(run_results, "step_kernel", analysis.CALL) == ["the call from Python's shape"]
    for (_, row), needed in zip(budget.iterrows(), (8e-3 / 3, 8e-3 * 0.7)):
        steps = (row[analysis.BLAS_STEP], row[analysis.COMPILED_STEP])
        assert steps == pytest.approx((8e-3, 4e-3))  # 100 steps a round
        assert row["needed for the bound"] == pytest.approx(needed)
        parts = [*analysis.STEP_PARTS, analysis.CALL, analysis.GATHER]
        assert list(row[parts]) == pytest.approx([1e-3, 2e-3, 0.5e-3, 0.1e-3, 0.25e-3])
        assert row["the rest"] == pytest.approx(4e-3 - 3.85e-3)
        left = needed - (4e-3 - 3e-3)  # the time every part but the first layer's two products leaves them
        assert row[analysis.PRODUCTS_NEED] == pytest.approx(2 * 2e5 / left / 380e9)  # float32 peak
        assert row[analysis.PRODUCTS_RUN] == pytest.approx(2 * 2e5 / 3e-3 / 380e9)
    pairs = ["numpy epoch / numba epoch, batch 8, adam", "numba epoch / numpy epoch, batch 8, adam"]
    assert list(budget["quantity"]) == pairs


def test_the_blas_step_budget_splits_its_step_with_its_own_gather(tmp_path):
    """numpy's step of the epoch study in its products, element-wise kernels, numpy's own gather at the
    epoch's batch, the optimizer's update, and the rest."""
    run = synthetic_run()
    run["benchmarks"] += [
        _bench("gather", 3e-5, backend="numpy", batch=32),
        _bench("gather", 1.0, backend="numba", batch=32),
        _bench("gather", 1.0, backend="numpy", batch=8),
        _bench("optimizer", 2e-5, kernel="momentum update", backend="numpy"),
    ]
    (tmp_path / "benchmark.json").write_text(json.dumps(run))
    budget = analysis.blas_step_budget(load_results(tmp_path / "benchmark.json")).set_index("part")
    step = budget.at["whole step", "seconds"]
    assert budget.at["batch gather (trainer)", "seconds"] == pytest.approx(3e-5)
    assert budget["seconds"].iloc[:-1].sum() == pytest.approx(step)  # the rest is what the parts leave
    assert budget.attrs["batch"] == 32


def test_the_thread_budget_splits_both_steps_and_sets_them_against_the_floor(tmp_path):
    run = synthetic_run()
    run["benchmarks"] = [b for b in run["benchmarks"] if b["group"] != "headline"]  # sides without backends
    one, every = {"backend": "numba", "threads": 1}, {"backend": "numba", "threads": 2}
    run["benchmarks"] += [
        _step_pair("numba epoch, 1 thread / all threads", one, every, 0.9, 0.5, 1.6, "at least"),
        *_step_parts("adam", (2e-3, 3e-3, 1.1e-3, 0.1e-3), threads=1),
        *_step_parts("adam", (1e-3, 2e-3, 1.1e-3, 0.1e-3), threads=2),
        *(_bench("gather", t, backend="numba", batch=8, threads=n) for n, t in ((1, 0.5e-3), (2, 0.25e-3))),
    ]
    (tmp_path / "benchmark.json").write_text(json.dumps(run))
    table = analysis.thread_budget(load_results(tmp_path / "benchmark.json")).set_index("part")
    assert table.attrs == {"threads": 2, "batch": 8, "optimizer": "adam"}
    parts = [*analysis.STEP_PARTS, analysis.CALL, analysis.GATHER, "the rest", "whole step"]
    assert list(table.index) == parts
    assert list(table["one thread"]) == pytest.approx([2e-3, 3e-3, 1e-3, 0.1e-3, 0.5e-3, 9e-3 - 6.6e-3, 9e-3])
    assert list(table["all threads"]) == pytest.approx(
        [1e-3, 2e-3, 1e-3, 0.1e-3, 0.25e-3, 5e-3 - 4.35e-3, 5e-3]
    )
    assert table.at["the rest", "speed-up"] == pytest.approx(2.4 / 0.65)
    floors = [2e5 / 380e9] * 3 + [math.nan] * 3 + [8e6 / 380e9]  # float32 peak; 8e6 FLOPs a step
    assert list(table["x floor"]) == pytest.approx(list(table["all threads"] / floors), nan_ok=True)
    assert analysis.thread_budget(results(tmp_path / "none")).empty
    slow = _step_kernel("weight gradient + update", "adam", 6e-3, threads=2)  # more than the step leaves
    run["benchmarks"] = [b for b in run["benchmarks"] if b["name"] != slow["name"]] + [slow]
    (tmp_path / "benchmark.json").write_text(json.dumps(run))
    table = analysis.thread_budget(load_results(tmp_path / "benchmark.json")).set_index("part")
    assert table.at["the rest", "all threads"] < 0 and np.isnan(table.at["the rest", "speed-up"])


def test_the_subnormal_cost_reads_both_variants_per_backend(tmp_path):
    run = synthetic_run()
    run["benchmarks"] += [
        _bench("subnormal", t, backend=backend, variant=f"{m} first moment", optimizer="adam")
        for backend, m, t in (("numba", "zero", 3e-5), ("numba", "subnormal", 7e-5), ("numpy", "zero", 9e-5))
    ]
    (tmp_path / "benchmark.json").write_text(json.dumps(run))
    table = analysis.subnormal_cost(load_results(tmp_path / "benchmark.json"))
    assert table.loc["numba"].tolist() == pytest.approx([3e-5, 7e-5])
    assert table.at["numpy", "zero"] == pytest.approx(9e-5) and np.isnan(table.at["numpy", "subnormal"])
    assert analysis.subnormal_cost(results(tmp_path / "none")).empty


def test_durations_are_written_in_a_unit_that_fits_them_negative_ones_too():
    from reports.fmt import seconds

    assert [seconds(t) for t in (1.23, 0.0456, 1.23e-5, 5e-10)] == ["1.23 s", "45.6 ms", "12.3 µs", "0.5 ns"]
    assert seconds(-1.03e-6) == "-1.03 µs"  # the rest of a step, where the parts timed alone overlap


@pytest.mark.parametrize(("numpy_over_numba", "unclear"), [(1.05, [1]), (1.2, [])])
def test_a_lead_within_the_rounds_spread_is_no_verdict(tmp_path, numpy_over_numba, unclear):
    """At batch 1 numba leads by the median; each side's rounds span +-5% (``_bench``): a 5% lead overlaps
    the other's rounds and gives no verdict there, a 20% lead does."""
    run = synthetic_run()
    for bench in run["benchmarks"]:
        info = bench["extra_info"]
        if info["study"] == "batch" and info["batch"] == 1 and info["backend"] == "numpy":
            bench.update(_epoch("batch", "numpy", numpy_over_numba, samples=8192, batch=1))
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(run))
    r = load_results(path)
    winners, _, found = analysis.crossover(r)
    assert winners[1] == "numba" and found == unclear
    report = build.build_report(path).read_text()
    assert ("No verdict at batch 1:" in report) == bool(unclear)


def test_the_lead_reads_every_optimizer_and_the_sweep_only_the_studys(tmp_path):
    """numba leads numpy at batch 1 and 8, not at 128 (``synthetic_run``); adam's points lead everywhere
    but at batch 8, where the sides' rounds (each +-5% of its median) overlap."""
    run = synthetic_run()
    for batch, numpy_s, numba_s in [(1, 3.0, 1.0), (8, 1.04, 1.0), (128, 0.4, 0.2)]:
        run["benchmarks"] += [
            _epoch("batch", backend, s, samples=8192, batch=batch, optimizer="adam")
            for backend, s in (("numpy", numpy_s), ("numba", numba_s))
        ]
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(run))
    r = load_results(path)
    lead = analysis.lead(r)
    assert list(lead.columns) == ["momentum", "adam"]  # the network's order (sgd, momentum, adam)
    assert lead["momentum"].tolist() == pytest.approx([2.0, 0.5 / 0.3, 0.5])
    assert lead["adam"].tolist() == pytest.approx([3.0, 1.04, 2.0])
    assert lead.attrs["unclear"] == [("adam", 8)]
    # the sweep table and its crossover read the study's optimizer only (adam would move every cell)
    assert analysis.sweep(r, "batch", "batch")["numba"].tolist() == pytest.approx(
        [0.95 * s * 60_000 / 8192 for s in (1.0, 0.3, 0.2)]
    )
    findings = build.findings(r)
    behind = next(f for f in findings if f.startswith("numba not clearly ahead of numpy"))
    assert "batch 128 momentum (0.5)" in behind and "batch 8 adam (1.04, the rounds overlap)" in behind


@pytest.mark.parametrize(("numba_at_8", "dearer"), [(0.14, []), (0.1, [("adam", 1, 8)])])
def test_a_step_dearer_at_a_smaller_batch_is_found(tmp_path, numba_at_8, dearer):
    """numba's adam epoch of 8,192 rows: 1 s at batch 1, so a step of 1/8192 s; at batch 8 a step is
    8 x numba_at_8 / 8192 s: 0.14 makes it 1.12x batch 1's, 0.1 makes it 0.8x, its median below batch
    1's fastest round (each 5% below its median: ``_bench``)."""
    run = synthetic_run()
    run["benchmarks"] += [
        _epoch("batch", "numba", seconds, samples=8192, batch=batch, optimizer="adam")
        for batch, seconds in ((1, 1.0), (8, numba_at_8))
    ]
    path = tmp_path / "benchmark.json"
    path.write_text(json.dumps(run))
    assert analysis.dearer_smaller_steps(load_results(path)) == dearer


def test_the_report_opens_with_what_each_backend_costs(tmp_path):
    r = results(tmp_path)
    costs = build.epoch_costs(r).set_index("backend")
    loops_epoch = 3.0 * 60_000 / 512  # the loops round trained 512 samples: scaled to the epoch
    # fastest rounds: each row's min is 0.95 of its median, so the ratio is the medians' too
    assert costs.at["numba", "x faster than loops"] == times(loops_epoch / 0.5)
    assert costs.at["loops", "x faster than loops"] == times(1.0)
    speedups = build.kernel_speedups(r)
    assert speedups.loc[("relu", "(32x64)"), "numba"] == pytest.approx(0.3 / 2e-4)
    assert "loops" not in speedups
    report = build.render([r], [])
    assert report.index("## What it costs") < report.index("## Claims we test") < report.index("## Findings")
    claims_part = report[report.index("## Claims we test") : report.index("## Findings")]
    assert "| numpy epoch / numba epoch, batch 8 |" in claims_part  # bounded: a claim, with its bound
    assert "≥ 3" not in report[: report.index("## Claims we test")]  # no bound before its own section
