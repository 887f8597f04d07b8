"""Dual-discriminator GAN (Kim et al. 2020), Fashion-MNIST one-vs-all, with AE and chance baselines.

The re-implementation protocol of the GAN report, in two presets that share the data and
differ only in the network width and the training budget:

* ``report`` (the default with ``--device cuda``, or when no device is given and CUDA is
  present): the report's full ten-class protocol, a GPU job;
* ``cpu`` (the default otherwise): a CPU-sized version (half the width, a shorter budget).

Choices of both presets, with their sources ("project" = this project's own choice, where
neither the paper nor the report as known here fixes it):

==================  ===============================  =========================================
choice              value                            source
==================  ===============================  =========================================
dataset, size       Fashion-MNIST, 28x28 resized     report (32x32); resize inside the detector
                    to 32x32 (bilinear, antialias)   (bilinear: project)
normal classes      each of the ten in turn,         report / paper (one-vs-all, mean over
                    the nine others anomalous        ten classes)
labelled anomalies  600 from any of the nine others  project: the paper does not state its
                    (10 % of a class's 6,000)        budget and the report's is not recorded
augmentation        flips, 0-2 px crops,             report
                    90/180/270-degree rotations
anomaly sampling    k-means (10 clusters) balanced   report (``kmeans_sampling``); k = 10:
                    to the number of normals         project
networks            U-Net (4 down, 4 up, skips,      paper; instance norm (not batch norm) so
                    tanh), two PatchGAN Ds           that a sample's score is batch-free:
                                                     project
width               64 (``report``), 32 (``cpu``)    64: pix2pix / the paper's U-Net and
                                                     PatchGAN width; 32: project (about a third
                                                     of the CPU cost)
loss weights        1.5, 0.5, 1.5, 0.5 / 0.5, 1.0 /  paper (module doc of
                    D 1.0, 0.5; top-10 patches       :mod:`torch_ae_sad.model.detectors.gan`)
patch size          8x8 on the 32x32 image           project (the paper's 32x32 patches are
                                                     for large images)
optimizer           Adam 1e-4, betas (0.5, 0.999)    paper
batch size          64                               project: the paper trains with batch 1
                                                     (10,800 optimizer steps per class epoch);
                                                     the report's batch is not recorded here
budget              ``report``: 30 epochs of the     project: the report's epoch count is not
                    10,800 balanced samples (5,070   recorded in this project. The CPU trend
                    steps); ``cpu``: 3000 random     (``benchmarks/results/gan_epochs.md``,
                    batches (~18 epochs)             width 32, classes 0-2) is at 0.956 after
                                                     10 epochs and still rising slowly, so 30
                                                     leaves room; ``cpu``: project
speed options       none (fp32, contiguous)          project: faithful arithmetic; ``amp`` and
                                                     ``channels_last`` are detector options
validation          10 % of the normals held out,    project (the runner's default); the last
                    loss only, last weights kept     weights are scored (no selection)
metric              test AUROC, full test set,       paper / report
                    mean over the ten classes
seeds               0 (``--seeds`` for more)         project
==================  ===============================  =========================================

Published: paper 98.6 (mean AUROC over ten classes), the report 93.9. The baselines see the
same split: :class:`ConvAutoEncoder` trains on the normals only, :class:`RandomGuess` is
chance.

Expected time: a training step costs about 1.0 GFLOP per sample at width 64 and 0.26 at
width 32 (both players, forward and backward; counted with ``torch.utils.flop_counter``), so
``report`` is ~3.3e14 FLOP per class (30 epochs x 10,800 samples). On one H200 that is under
a minute of arithmetic; the ~5,070 small steps per class, each with a few host-device
synchronisations, dominate: an estimate (not measured; no GPU run of this preset yet) of 1.5-3
minutes per class, 15-30 minutes for the ten classes and one seed, baselines included.
``cpu`` costs about 15 minutes per class on one CPU thread (3000 batches of 64 at 4-5 ms per
sample, ``benchmarks/results/gan_epochs.md``), about 2.5 hours for the ten classes.

Run::

    python -m torch_ae_sad.model.gan_fashion_trainer --device cuda        # report, 10 classes
    python -m torch_ae_sad.model.gan_fashion_trainer --preset cpu [--quick] [--workers 2]
    python -m torch_ae_sad.model.gan_fashion_trainer --preset report --device cuda --seeds 0 1 2

``--quick`` (class 0, 50 GAN batches, 2 AE epochs) takes about a minute on 2 CPU cores. The
other flags are the experiment runner's (``--help``). Summary: ``python -m
torch_ae_sad.model.results DIR``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from torch_ae_sad.model.experiment import trainer_main

#: Each class normal, 600 labelled anomalies from the nine others in training.
ANOMALY_CONFIG = [{"scenario": "one_vs_all", "normal_classes": [c], "labelled": 600}
                  for c in range(10)]

#: No under-sampling of the normals: the GAN balances its anomalies itself.
SAMPLER_CONFIG = [
    {"name": "none"},
]

#: Settings of the GAN shared by both presets; the detector's defaults supply the rest: the
#: paper's loss weights, Adam betas (0.5, 0.999), 10 k-means clusters, fp32, contiguous.
GAN_COMMON = {"method": "DualDiscriminatorGAN", "batch_size": 64, "lr": 1e-4,
              "augment": True, "balance_anomalies": True, "patch_size": 8, "top_k": 10}

#: The two baselines (same in both presets).
BASELINES = [
    {"method": "ConvAutoEncoder", "epochs": 20, "batch_size": 64, "lr": 1e-3},
    {"method": "RandomGuess"},
]

#: Preset name -> MODEL_CONFIG (see the module docstring for every choice and its source).
PRESETS = {
    "report": [{**GAN_COMMON, "width": 64, "epochs": 30}, *BASELINES],
    "cpu": [{**GAN_COMMON, "width": 32, "n_steps": 3000}, *BASELINES],
}

#: The CPU preset's lists (what ``--preset cpu`` runs).
MODEL_CONFIG = PRESETS["cpu"]


def default_preset(device: str | None) -> str:
    """``report`` for a CUDA device (or none given and CUDA present), else ``cpu``."""
    if device is None:
        import torch

        return "report" if torch.cuda.is_available() else "cpu"
    return "report" if str(device).startswith("cuda") else "cpu"


def main(argv: Sequence[str] | None = None) -> None:
    """Run the grid of the chosen preset (``--preset``; default by device, see the doc)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--preset", choices=sorted(PRESETS), default=None)
    pre.add_argument("--device", default=None)
    known, rest = pre.parse_known_args(argv)
    preset = known.preset or default_preset(known.device)
    if known.device is not None:
        rest += ["--device", known.device]
    print(f"gan_fashion_trainer: preset {preset!r}", flush=True)
    trainer_main(ANOMALY_CONFIG, SAMPLER_CONFIG, PRESETS[preset],
                 description=f"{__doc__.splitlines()[0]} (preset {preset!r}; --preset "
                             f"{'|'.join(sorted(PRESETS))})",
                 argv=rest, dataset="fashion_mnist")


if __name__ == "__main__":
    main()
