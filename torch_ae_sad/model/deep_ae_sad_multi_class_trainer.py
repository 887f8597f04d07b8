"""AE-SAD, many-vs-many and one-vs-all on MNIST, with and without under-sampling (the thesis).

Edit the lists below, then run::

    python -m torch_ae_sad.model.deep_ae_sad_multi_class_trainer [--quick] [--out DIR]

One JSON record per (scenario, sampler, model, seed) goes to ``json_metrics/staged/`` (or
``--out``); runs already recorded are skipped.
"""

from torch_ae_sad.model.experiment import trainer_main

#: Scenarios: split keys (see ``experiment.SPEC_DEFAULTS``).
ANOMALY_CONFIG = [
    {"scenario": "many_vs_many", "normal_classes": [0, 1, 2, 3, 4],
     "anomaly_classes": [5, 6, 7, 8, 9], "labelled": 60},
    {"scenario": "one_vs_all", "normal_classes": [8], "labelled": 60},
]

#: Samplers: registry name plus parameters (``ratio`` = fraction of normals kept).
SAMPLER_CONFIG = [
    {"name": "none"},
    {"name": "random", "ratio": 0.5},
    {"name": "nearmiss1", "ratio": 0.5, "feature_space": "pca", "n_components": 50},
    {"name": "kmeans_balanced", "ratio": 0.5, "feature_space": "pca", "n_components": 50},
    {"name": "enn", "feature_space": "pca", "n_components": 50},
]

#: Models: ``method`` plus its parameters (AE-SAD authors' defaults: d-128-32-128-d).
MODEL_CONFIG = [
    {"method": "AESAD", "hidden_dims": [128, 32], "activation": "relu",
     "out_activation": "sigmoid", "transform": "F0", "alpha": 1.0, "epochs": 10,
     "batch_size": 32, "lr": 1e-3, "optimizer": "adam"},
]


def main() -> None:
    """Run the grid of the lists above."""
    trainer_main(ANOMALY_CONFIG, SAMPLER_CONFIG, MODEL_CONFIG, description=__doc__.split("\n")[0],
                 dataset="mnist")


if __name__ == "__main__":
    main()
