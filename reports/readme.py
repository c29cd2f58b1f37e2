"""Generated sections of the README: the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` is
replaced by a report, so that no number in the README is typed by hand.

    python -m reports.readme      # the performance section, from reports/headline.csv and its run

A benchmark run writes ``reports/`` only; the README changes through this command alone.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd

from network.files import atomic_write
from reports import analysis, machines
from reports.build import (
    HEADLINE_COLUMNS,
    HEADLINE_CSV,
    epoch_costs,
    machine_name,
    run_length,
    width_level,
    width_speedup,
    winners_sentence,
)
from reports.fmt import frame_table, percent, table
from reports.results import ReportError, load_results

README = Path(__file__).resolve().parents[1] / "README.md"
REPORTS = Path(__file__).resolve().parent
REPEAT_JSON = "benchmark_repeat.json"  # a second full run, committed beside the report's
RATIO_COLUMNS = {name: HEADLINE_COLUMNS[name] for name in ("quantity", "ratio [95% interval]")}
# headline.csv's bounds are written out already ("≤ 0.7")
CLAIM_COLUMNS = RATIO_COLUMNS | {"bound": lambda r: r.bound, "verdict": lambda r: r.verdict}


def update_section(readme: Path, name: str, text: str) -> None:
    """Replace the section ``name`` of ``readme`` with ``text``; a missing marker is an error."""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    content = readme.read_text()
    if start not in content or end not in content:
        raise ValueError(f"{readme}: no {start} ... {end} markers to replace")
    head, rest = content.split(start, 1)
    _, tail = rest.split(end, 1)
    with atomic_write(readme, "w") as f:
        f.write(f"{head}{start}\n{text.strip()}\n{end}{tail}")


def performance_section(reports: Path = REPORTS) -> str:
    """The headline ratios of the committed run with their intervals, and what they were measured on."""
    results = load_results(reports / "benchmark.json")
    headline = pd.read_csv(reports / HEADLINE_CSV)
    data = results.run.get("data") or {}
    epoch = results.study("epoch")
    network = f"{epoch['layer_sizes'].iloc[0]}, {epoch['dtype'].iloc[0]}, " if len(epoch) else ""
    bounded = headline["bound"].notna()
    # what backends that run differently on each CPU said of themselves: numba's blocking, whether tuned here
    described = results.run.get("described") or {}
    costs = epoch_costs(results)
    repeat = reports / REPEAT_JSON
    agreement = ""
    if repeat.exists():
        runs = [results, load_results(repeat)]
        c, widths = analysis.compare(runs), [analysis.half_widths(run) for run in runs]
        agreement = (
            f"\n\nA second full run on the same machine (`{REPEAT_JSON}`): of {len(c)} ratios, "
            f"{int(c['contradicts'].sum())} met in one run and not met in the other, "
            f"{int((c['shift_se'] > analysis.SEPARATED).sum())} more than {analysis.SEPARATED:g} standard "
            "errors of their difference apart; intervals' half-widths: median "
            f"{' / '.join(percent(w.median()) for w in widths)}, widest "
            f"{' / '.join(percent(w.max()) for w in widths)} (this run / the second). The report's *Runs "
            "side by side* shows each ratio in both."
        )
    return (
        f"### Results\n\nFrom the committed [performance report](reports/performance.md): {network}"
        f"{data.get('name', 'unknown data')}, measured on {machine_name(results)} (run finished "
        f"{results.datetime[:16]}{run_length(results)}). An epoch of each backend, how many times faster "
        "than loops, and how far from this machine's limit (its FLOPs at the measured all-core FMA peak):\n\n"
        + table(list(costs.columns), costs.itertuples(index=False))
        + f"\n\n{winners_sentence(results)}"
        + "".join(f" {name} ran with: {text}." for name, text in described.items())
        + "\n\n### Claims we test\n\nEach ratio comes from rounds that alternate its two sides, in blocks "
        f"spread over the run, {analysis.block_processes(results)}, with its 95% interval over the blocks "
        "that the machine did not slow (the "
        "report shows those apart, measured again, and says where each bound comes from).\n\n"
        + frame_table(headline[bounded], CLAIM_COLUMNS)
        + "\n\nMeasured the same way, with no bound:\n\n"
        + frame_table(headline[~bounded], RATIO_COLUMNS)
        + agreement
        + _vector_width(reports, results)
        + _machines(reports / machines.FOLDER)
    )


def _vector_width(reports: Path, results) -> str:
    """The width study of the report's machine (``python -m bench.widths``), where one is stored."""
    levels = analysis.vector_widths(machines.widths(reports / machines.FOLDER, machines.machine_id(results)))
    if levels.empty:
        return ""
    rows = [
        [width_level(r), *(width_speedup(r, name) for name in analysis.WIDTH_SPEEDUPS)]
        for r in levels.to_dict("records")
    ]
    return (
        f"\n\n### Against the vector width\n\nThe same machine, `python -m bench.widths`: Numba and OpenBLAS "
        "held to each vector width in turn (the report's *Vector width as a variable* has the method and the "
        f"times); {levels['dataset'].iloc[0]}, batch {levels['batch'].iloc[0]}.\n\n"
        + table(["ISA level", *analysis.WIDTH_SPEEDUPS], rows)
        + "\n\n![speed-ups against the vector width](reports/vector_width.png)"
    )


def _machines(folder: Path) -> str:
    """Every stored machine side by side (``reports.machines``), where more than this run's is stored."""
    summaries = machines.stored(folder)
    if len(summaries) < 2:
        return ""
    return (
        f"\n\n### On every machine measured\n\n{len(summaries)} machines, one column each "
        "(`reports/machines/`); the last column counts the machines on which each bound is met.\n\n"
        + machines.markdown(summaries)
    )


def main(argv: list[str] | None = None) -> int:
    # a parser although there are no options, so that --help explains instead of rewriting the README
    parser = argparse.ArgumentParser(prog="python -m reports.readme", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter  # the docstring's command line as written
    parser.parse_args(argv)
    try:
        update_section(README, "performance", performance_section())
    except (ReportError, OSError, ValueError) as err:
        print(f"python -m reports.readme: error: {err}", file=sys.stderr)
        return 1
    print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
