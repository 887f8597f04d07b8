"""Deep SAD protocol on MNIST: one normal digit, labelled anomalies from one known digit.

Reproduces experimental scenario (i) of Ruff et al. (Deep SAD, ICLR 2020; authors' code
``lukasruff/Deep-SAD-PyTorch``): each digit normal in turn and each of the nine others as the
one known anomaly class (90 pairs), a fraction ``gamma_l`` = 0.01 or 0.05 of the training set
labelled anomalies from the known class, and a pollution ``gamma_p`` = 0.0 or 0.1 of unlabelled
anomalies from any anomaly class; the test set has every class. Deep SAD on the authors'
bias-free LeNet with their README's budgets (150 + 150 epochs, Adam, lr 1e-4, divided by 10
from epoch 50 on: ``--lr_milestone 50``; no milestone in pre-training), Deep SVDD (the
same network, ``eta = 0``: the labels are ignored), AE-SAD, and the weakly-supervised
baselines DevNet, PReNet (LeNet feature learner) and FEAWAD under the same protocol.
Paper: mean AUROC 96.4 for Deep SAD with ``gamma_l = 0.01`` (averaged over the 90 pairs and
10 seeds). The faithful preset is ``python -m torch_ae_sad.model.protocols run
deep_sad_mnist``.

Run::

    python -m torch_ae_sad.model.deep_sad_trainer [--quick] [--seeds 0 1 2] [--workers 2]

The full grid is 360 scenarios x 6 models per seed (GPU-sized); ``--quick`` (normal 0, known
anomaly 1, ``gamma_l = 0.01``, no pollution, 2 + 2 epochs) takes well under a minute on 2 CPU
cores.
"""

from torch_ae_sad.model.experiment import trainer_main

#: (gamma_l, gamma_p) x normal digit x known anomaly digit.
ANOMALY_CONFIG = [
    {"scenario": "one_vs_all", "normal_classes": [normal], "known_classes": [known],
     "labelled": labelled, "pollution": pollution}
    for labelled in (0.01, 0.05)
    for pollution in (0.0, 0.1)
    for normal in range(10)
    for known in range(10) if known != normal
]

#: The protocol has no under-sampling.
SAMPLER_CONFIG = [
    {"name": "none"},
]

#: Deep SAD (authors' README budgets), Deep SVDD (eta = 0), AE-SAD (authors' defaults), DevNet,
#: PReNet and FEAWAD (authors' defaults).
MODEL_CONFIG = [
    {"method": "DeepSAD", "network": "lenet", "rep_dim": 32, "eta": 1.0, "epochs": 150,
     "lr_milestones": [50],
     "batch_size": 128, "lr": 1e-4, "weight_decay": 0.5e-6, "pretrain": True,
     "pretrain_epochs": 150, "pretrain_lr": 1e-4, "pretrain_weight_decay": 0.5e-3},
    {"method": "DeepSAD", "network": "lenet", "rep_dim": 32, "eta": 0.0, "epochs": 150,
     "lr_milestones": [50],
     "batch_size": 128, "lr": 1e-4, "weight_decay": 0.5e-6, "pretrain": True,
     "pretrain_epochs": 150, "pretrain_lr": 1e-4, "pretrain_weight_decay": 0.5e-3},
    {"method": "AESAD", "hidden_dims": [128, 32], "activation": "relu",
     "out_activation": "sigmoid", "transform": "F0", "epochs": 10, "batch_size": 32,
     "lr": 1e-3},
    # weakly-supervised baselines with their authors' budgets (RMSprop / Adam, batches of 512
    # half labelled anomalies): DevNet and PReNet on the LeNet feature learner, FEAWAD dense
    {"method": "DevNet", "network": "lenet", "rep_dim": 32},
    {"method": "PReNet", "network": "lenet", "rep_dim": 32},
    {"method": "FEAWAD"},
]


def main() -> None:
    """Run the grid of the lists above."""
    trainer_main(ANOMALY_CONFIG, SAMPLER_CONFIG, MODEL_CONFIG, description=__doc__.split("\n")[0],
                 dataset="mnist")


if __name__ == "__main__":
    main()
