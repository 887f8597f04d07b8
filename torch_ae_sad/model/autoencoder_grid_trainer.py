"""Auto-encoder hyper-parameter grid on MNIST: tune with digit 8 normal, test with digit 4.

Reproduces the grid of the 4-vs-8 report: a dense auto-encoder with 6 or 4 layers (encoder
784-256-128-latent or 784-128-latent, the decoder mirrors it), latent 32 / 64 / 128, ReLU or
tanh hidden activations and a sigmoid output, crossed with learning rate, weight decay, epochs
and batch size; plus a few convolutional auto-encoder and VAE entries. Every model is trained
on the normal digit only (unsupervised, no labelled anomalies); the other nine digits are the
anomalies at test time.

The two ANOMALY_CONFIG entries are the two phases: digit 8 normal (tuning: pick the best
configuration there, e.g. by validation or test AUROC) and digit 4 normal (the final test of
the chosen configuration). Both run the whole grid, so the choice is made afterwards from the
records, e.g.::

    python -m torch_ae_sad.model.results DIR --group-by normal_classes method
        method_params.hidden_dims method_params.activation method_params.lr   (one line)

Run::

    python -m torch_ae_sad.model.autoencoder_grid_trainer [--quick] [--seeds 0 1 2] [--workers 2]

The full grid is 2 x (192 dense + 6 conv + 6 VAE) runs per seed; ``--quick`` (digit 8, the
first four dense architectures, 2 epochs) takes well under a minute on 2 CPU cores.
"""

from torch_ae_sad.model.experiment import trainer_main

#: Tuning (digit 8 normal) and final test (digit 4 normal); unsupervised: no labelled anomalies.
ANOMALY_CONFIG = [
    {"scenario": "one_vs_all", "normal_classes": [8], "labelled": 0},
    {"scenario": "one_vs_all", "normal_classes": [4], "labelled": 0},
]

#: No under-sampling: the grid is about the auto-encoder.
SAMPLER_CONFIG = [
    {"name": "none"},
]

#: Dense auto-encoders: 6 layers (two hidden widths + latent) or 4 layers (one + latent).
ARCHITECTURES = [[256, 128, latent] for latent in (32, 64, 128)] + \
    [[128, latent] for latent in (32, 64, 128)]

#: architecture x activation x learning rate x weight decay x epochs x batch size (192 runs),
#: then convolutional auto-encoders and VAEs at the report's default training budget.
MODEL_CONFIG = [
    {"method": "AutoEncoder", "network": "dense", "hidden_dims": dims, "activation": act,
     "out_activation": "sigmoid", "lr": lr, "weight_decay": wd, "epochs": epochs,
     "batch_size": batch, "optimizer": "adam"}
    for epochs in (10, 30)
    for batch in (32, 128)
    for lr in (1e-3, 1e-4)
    for wd in (0.0, 1e-5)
    for act in ("relu", "tanh")
    for dims in ARCHITECTURES
] + [
    {"method": "ConvAutoEncoder", "channels": [32, 64], "hidden_dims": [latent],
     "activation": act, "out_activation": "sigmoid", "lr": 1e-3, "epochs": 10,
     "batch_size": 128}
    for latent in (32, 64, 128) for act in ("relu", "tanh")
] + [
    {"method": "VAE", "network": "dense", "hidden_dims": [256, latent], "activation": act,
     "out_activation": "sigmoid", "lr": 1e-3, "epochs": 10, "batch_size": 128}
    for latent in (32, 64, 128) for act in ("relu", "tanh")
]


def main() -> None:
    """Run the grid of the lists above."""
    trainer_main(ANOMALY_CONFIG, SAMPLER_CONFIG, MODEL_CONFIG, description=__doc__.split("\n")[0],
                 dataset="mnist")


if __name__ == "__main__":
    main()
