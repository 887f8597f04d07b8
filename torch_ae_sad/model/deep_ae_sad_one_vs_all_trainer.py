"""AE-SAD, MNIST one-vs-all: each digit normal in turn, 60 labelled anomalies, no sampling.

Run::

    python -m torch_ae_sad.model.deep_ae_sad_one_vs_all_trainer [--quick] [--seeds 0 1 2]
"""

from torch_ae_sad.model.experiment import trainer_main

ANOMALY_CONFIG = [{"scenario": "one_vs_all", "normal_classes": [c], "labelled": 60}
                  for c in range(10)]

SAMPLER_CONFIG = [
    {"name": "none"},
]

MODEL_CONFIG = [
    {"method": "AESAD", "hidden_dims": [128, 32], "out_activation": "sigmoid",
     "transform": "F0", "epochs": 10, "batch_size": 32, "lr": 1e-3},
]


def main() -> None:
    """Run the grid of the lists above."""
    trainer_main(ANOMALY_CONFIG, SAMPLER_CONFIG, MODEL_CONFIG, description=__doc__.split("\n")[0],
                 dataset="mnist")


if __name__ == "__main__":
    main()
