"""reports.accuracy chooses the defaults by validation accuracy alone and writes them as importable Python."""

from __future__ import annotations

import runpy

import pandas as pd

from reports import accuracy


def tuning_runs() -> pd.DataFrame:
    """Two candidates, three seeds: 512 is better on validation, 256,128 (planted) on test."""
    rows = []
    for hidden, val, test in [("512", 0.96, 0.95), ("256,128", 0.95, 0.99)]:
        settings = {
            "hidden": hidden,
            "batch_size": 64,
            "optimizer": "momentum",
            "lr": 0.1,
            "weight_decay": 0.0,
        }
        for seed, wobble in enumerate([-0.002, 0.0, 0.002]):
            rows.append(
                {
                    "dataset": "mnist",
                    **settings,
                    "seed": seed,
                    "val_images": 1000,
                    "val_accuracy": val + wobble,
                    "test_accuracy": test - wobble,
                    "commit": "0123abc",
                }
            )
    return pd.DataFrame(rows)


def test_the_choice_uses_validation_accuracy_only():
    summary = accuracy.summarise(tuning_runs())
    assert list(summary.chosen) == [True, False]
    assert accuracy.chosen_settings(summary) == {
        "mnist": {"hidden": "512", "batch_size": 64, "optimizer": "momentum", "lr": 0.1, "weight_decay": 0.0}
    }
    first = summary.iloc[0]
    assert (first.val_min, first.val_max, first.seeds) == (0.958, 0.962, 3)


def test_the_tuned_defaults_are_written_as_python(tmp_path, monkeypatch):
    monkeypatch.setattr(accuracy, "TUNED_PY", tmp_path / "tuned.py")
    chosen = accuracy.chosen_settings(accuracy.summarise(tuning_runs()))
    accuracy.write_tuned(chosen)
    module = runpy.run_path(str(tmp_path / "tuned.py"))
    assert module["TUNED"] == chosen and module["__doc__"].startswith("The default settings of each data set")


def test_the_tuning_table_marks_the_choice_and_labels_test_as_unused():
    section = accuracy.tuning_section(accuracy.summarise(tuning_runs()), defaults={})
    assert "**The choice used the validation accuracy only**" in section
    assert "| settings (chosen in bold) | validation accuracy | test accuracy (not used) |" in section
    assert (
        "| **`--hidden=512 --batch-size=64 --optimizer=momentum --lr=0.1 --weight-decay=0`** | 96.00%"
        in section
    )
    assert "**not** yet the defaults" in section
