"""reports.accuracy chooses the defaults by validation accuracy alone and writes them as importable Python."""

from __future__ import annotations

import runpy

import pandas as pd

from reports import accuracy


def tuning_runs() -> pd.DataFrame:
    """Momentum: 512 is better on validation, 256,128 (planted) on test. Adam: 0.001 is better on validation
    and the best of all; sgd's one candidate stopped in one seed (not learning)."""
    rows = []
    candidates = [
        ("512", "momentum", 0.1, 0.96, 0.95),
        ("256,128", "momentum", 0.1, 0.95, 0.99),
        ("512", "adam", 0.001, 0.97, 0.95),
        ("512", "adam", 0.0005, 0.965, 0.98),
        ("512", "sgd", 1.0, 0.99, 0.99),
    ]
    for hidden, optimizer, lr, val, test in candidates:
        settings = {"hidden": hidden, "batch_size": 64, "optimizer": optimizer, "lr": lr, "weight_decay": 0.0}
        for seed, wobble in enumerate([-0.002, 0.0, 0.002]):
            stopped = optimizer == "sgd" and seed == 1
            rows.append(
                {
                    "dataset": "mnist",
                    **settings,
                    "seed": seed,
                    "val_images": None if stopped else 1000,
                    "val_accuracy": None if stopped else val + wobble,
                    "test_accuracy": None if stopped else test - wobble,
                    "commit": "0123abc",
                }
            )
    return pd.DataFrame(rows)


def test_each_optimizer_is_chosen_by_validation_accuracy_only():
    summary = accuracy.summarise(tuning_runs())
    assert list(summary.chosen) == [True, False, True, False, False]
    assert list(summary.default) == [False, False, True, False, False]
    chosen = {"hidden": "512", "batch_size": 64, "weight_decay": 0.0}
    assert accuracy.chosen_settings(summary) == {
        "mnist": {
            "optimizer": "adam",
            "optimizers": {"momentum": {**chosen, "lr": 0.1}, "adam": {**chosen, "lr": 0.001}},
        }
    }
    first = summary.iloc[0]
    assert (first.val_min, first.val_max, first.seeds) == (0.958, 0.962, 3)


def test_a_candidate_stopped_in_any_seed_is_not_chosen_and_says_so():
    summary = accuracy.summarise(tuning_runs())
    sgd = summary[summary.optimizer == "sgd"].iloc[0]
    assert (
        sgd.stopped == 1
        and not sgd.chosen
        and "sgd" not in accuracy.chosen_settings(summary)["mnist"]["optimizers"]
    )
    section = accuracy.tuning_section(summary, defaults={})
    assert (
        "| `--hidden=512 --batch-size=64 --optimizer=sgd --lr=1 --weight-decay=0` "
        "| stopped, not learning, in 1 of 3 seeds |" in section
    )


def test_the_tuned_defaults_are_written_as_python(tmp_path, monkeypatch):
    monkeypatch.setattr(accuracy, "TUNED_PY", tmp_path / "tuned.py")
    chosen = accuracy.chosen_settings(accuracy.summarise(tuning_runs()))
    accuracy.write_tuned(chosen)
    module = runpy.run_path(str(tmp_path / "tuned.py"))
    assert module["TUNED"] == chosen and module["__doc__"].startswith("The default settings of each data set")


def test_the_tuning_table_marks_the_choices_and_labels_test_as_unused():
    section = accuracy.tuning_section(accuracy.summarise(tuning_runs()), defaults={})
    assert "**The choice used the validation accuracy only**" in section
    assert (
        "| settings (each optimizer's choice in bold) | validation accuracy | test accuracy (not used) |"
        in section
    )
    assert (
        "| **`--hidden=512 --batch-size=64 --optimizer=momentum --lr=0.1 --weight-decay=0`** | 96.00%"
        in section
    )
    assert (
        "**`--hidden=512 --batch-size=64 --optimizer=adam --lr=0.001 --weight-decay=0`** (the default) |"
        in section
    )
    assert (
        "- adam: `--hidden=512 --batch-size=64 --optimizer=adam --lr=0.001 --weight-decay=0`, 0.50% ahead"
        in section
    )
    assert "**not** yet the defaults" in section
