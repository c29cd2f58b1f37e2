"""The default settings of each data set, chosen by ``python -m reports.accuracy --tuning``, which
writes this file: the candidate with the best mean validation accuracy. reports/accuracy.md shows the runs."""

TUNED = {
    "mnist": {
        "hidden": "512",
        "batch_size": 128,
        "optimizer": "momentum",
        "lr": 0.2,
        "weight_decay": 0.0
    },
    "fashion-mnist": {
        "hidden": "512",
        "batch_size": 64,
        "optimizer": "momentum",
        "lr": 0.05,
        "weight_decay": 0.0
    }
}
