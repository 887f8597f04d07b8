"""Dual-discriminator GAN (Kim et al. 2020), Fashion-MNIST one-vs-all, with AE and chance baselines.

The re-implementation protocol of the GAN report: each Fashion-MNIST class normal in turn, the
nine others anomalous; images resized to 32x32 inside the detector; training batches augmented
(flips, 0-2 pixel crops, 90/180/270-degree rotations); the labelled anomalies drawn evenly from
10 k-means clusters until they match the normals (``balance_anomalies``, the report's
``kmeans_sampling``). Labelled-anomaly budget: 600 training anomalies from any of the nine
other classes (10 % of a class's 6000 normals; the paper does not state its budget), so after
balancing each anomaly is seen about 9 times per epoch. Metric: test AUROC, averaged over the
ten classes by ``python -m torch_ae_sad.model.results DIR``. Paper: 98.6; the report: 93.9.

The GAN runs ``n_steps`` random batches of 64 (about 18 epochs of the ~10,800 balanced
samples) at ``width=32`` (half the pix2pix width: a CPU-sized network, about 5 ms per sample
per step on one core; ``width=64`` costs about three times as much). The baselines see the same
split: :class:`ConvAutoEncoder` trains on the normals only, :class:`RandomGuess` is chance.

Run::

    python -m torch_ae_sad.model.gan_fashion_trainer [--quick] [--seeds 0 1 2] [--workers 2]

``--quick`` (class 0, 50 GAN batches, 2 AE epochs) takes about a minute on 2 CPU cores.
"""

from torch_ae_sad.model.experiment import trainer_main

#: Each class normal, 600 labelled anomalies from the nine others in training.
ANOMALY_CONFIG = [{"scenario": "one_vs_all", "normal_classes": [c], "labelled": 600}
                  for c in range(10)]

#: No under-sampling of the normals: the GAN balances its anomalies itself.
SAMPLER_CONFIG = [
    {"name": "none"},
]

#: The GAN (paper weights, Adam 1e-4 with betas (0.5, 0.999)) and the two baselines.
MODEL_CONFIG = [
    {"method": "DualDiscriminatorGAN", "width": 32, "batch_size": 64, "lr": 1e-4,
     "n_steps": 3000, "augment": True, "balance_anomalies": True, "patch_size": 8,
     "top_k": 10},
    {"method": "ConvAutoEncoder", "epochs": 20, "batch_size": 64, "lr": 1e-3},
    {"method": "RandomGuess"},
]


def main() -> None:
    """Run the grid of the lists above."""
    trainer_main(ANOMALY_CONFIG, SAMPLER_CONFIG, MODEL_CONFIG, description=__doc__.split("\n")[0],
                 dataset="fashion_mnist")


if __name__ == "__main__":
    main()
