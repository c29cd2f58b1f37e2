"""The default settings of each data set and optimizer, chosen by
``python -m reports.accuracy --tuning``, which writes this file: per optimizer, its candidate with the best
mean validation accuracy; the data set's default optimizer is the one whose choice is best.
reports/accuracy.md shows the runs."""

TUNED = {
    "mnist": {
        "optimizer": "momentum",
        "optimizers": {
            "sgd": {
                "hidden": "512",
                "batch_size": 128,
                "lr": 1.0,
                "weight_decay": 0.0
            },
            "momentum": {
                "hidden": "512",
                "batch_size": 128,
                "lr": 0.2,
                "weight_decay": 0.0
            },
            "adam": {
                "hidden": "512",
                "batch_size": 128,
                "lr": 0.003,
                "weight_decay": 0.0
            }
        }
    },
    "fashion-mnist": {
        "optimizer": "adam",
        "optimizers": {
            "sgd": {
                "hidden": "512",
                "batch_size": 64,
                "lr": 0.2,
                "weight_decay": 0.0
            },
            "momentum": {
                "hidden": "512",
                "batch_size": 64,
                "lr": 0.05,
                "weight_decay": 0.0
            },
            "adam": {
                "hidden": "512",
                "batch_size": 128,
                "lr": 0.003,
                "weight_decay": 0.0
            }
        }
    }
}
