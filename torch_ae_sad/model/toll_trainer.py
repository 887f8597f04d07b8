"""TOLL, MNIST one-vs-all, dense auto-encoder on the authors' scale: beta = 1000 vs beta = 0.

The CPU-sized version of TOLL's MNIST protocol (Ghafourian et al.; authors' code
``Soltanilara/Toll``); the faithful presets, with every choice and its source, are in
:mod:`torch_ae_sad.model.protocols` (``toll_mnist`` is the authors' conv network, a GPU job;
``toll_mnist_dense`` is these lists). Each digit normal in turn, the nine others anomalous;
training on the digit's normals only; inputs standardised as the authors' (``scaling:
standardize``, ``(x - 0.1307) / 0.3081``); loss and score ``||x - x_hat||_2 + beta ||z||_2``;
a dense 784-256-128 network with batch norm and a linear output; batches of 1000 drawn
without replacement, Adam 1e-4, 2000 batches, a checkpoint every 20 chosen by validation
AUROC on the authors' validation composition (1/6 of the normals plus nine times as many
anomalies, as their 10,000 random training images). Paper (conv network, 10 seeds): mean
AUROC 98.4 with beta = 1000, 94.7 with beta = 0.

Run::

    python -m torch_ae_sad.model.toll_trainer [--quick] [--seeds 0 1 2] [--workers 2]

``--quick`` (digit 0, 50 batches, both betas) takes well under a minute on 2 CPU cores.
Summary over seeds: ``python -m torch_ae_sad.model.results DIR``.
"""

from torch_ae_sad.model.experiment import trainer_main

#: Each digit normal; validation as the authors' (set "val_labelled": 0 for normals only).
ANOMALY_CONFIG = [{"scenario": "one_vs_all", "normal_classes": [c], "labelled": 0,
                   "val_fraction": 1 / 6, "val_labelled": 0.9} for c in range(10)]

#: TOLL trains on the raw data: no under-sampling.
SAMPLER_CONFIG = [
    {"name": "none"},
]

#: beta = 1000 (paper, MNIST) and the beta = 0 ablation (a plain auto-encoder, L2 norm loss).
MODEL_CONFIG = [
    {"method": "TOLL", "beta": beta, "network": "dense", "hidden_dims": [256, 128],
     "batch_norm": True, "activation": "relu", "out_activation": "linear",
     "batch_size": 1000, "optimizer": "adam", "lr": 1e-4, "n_steps": 2000, "eval_every": 20,
     "select": "best"}
    for beta in (1000.0, 0.0)
]


def main() -> None:
    """Run the grid of the lists above."""
    trainer_main(ANOMALY_CONFIG, SAMPLER_CONFIG, MODEL_CONFIG, description=__doc__.split("\n")[0],
                 dataset="mnist", scaling="standardize")


if __name__ == "__main__":
    main()
