"""Classical baselines on MNIST under class imbalance: the AE-SAD trainer's scenarios and samplers.

Runs the shallow, unsupervised detectors of :mod:`torch_ae_sad.model.detectors.classical`
(Isolation Forest, one-class SVM, k-NN distance, LOF, DBSCAN core distance, and random scores
as the AUROC floor) on the scenarios of ``deep_ae_sad_multi_class_trainer`` (digit 8 normal
vs the rest, and digits 0-4 vs 5-9, with 60 labelled anomalies that these detectors leave out
of training but the samplers see), with and without under-sampling of the normal class, so
that their records sit beside AE-SAD's in the same tables. The distance and kernel based ones
work in a 50-dimensional PCA space fitted on the training data (raw 784-d pixels make OCSVM and
LOF slow).

Run::

    python -m torch_ae_sad.model.baselines_trainer [--quick] [--seeds 0 1 2] [--workers 2]

``--quick`` (digit 8 vs rest, no sampling and random under-sampling, the first four
detectors) takes well under a minute on 2 CPU cores.
"""

from torch_ae_sad.model.experiment import trainer_main

#: The scenarios of deep_ae_sad_multi_class_trainer (one-vs-all first: it is the quick one).
ANOMALY_CONFIG = [
    {"scenario": "one_vs_all", "normal_classes": [8], "labelled": 60},
    {"scenario": "many_vs_many", "normal_classes": [0, 1, 2, 3, 4],
     "anomaly_classes": [5, 6, 7, 8, 9], "labelled": 60},
]

#: Samplers: registry name plus parameters (``ratio`` = fraction of normals kept).
SAMPLER_CONFIG = [
    {"name": "none"},
    {"name": "random", "ratio": 0.5},
    {"name": "nearmiss1", "ratio": 0.5, "feature_space": "pca", "n_components": 50},
    {"name": "kmeans_balanced", "ratio": 0.5, "feature_space": "pca", "n_components": 50},
]

#: Detectors (scikit-learn defaults unless noted; PCA to 50 dimensions where it applies).
MODEL_CONFIG = [
    {"method": "IForest", "n_estimators": 100},
    {"method": "OCSVM", "kernel": "rbf", "nu": 0.1, "gamma": "scale", "pca_components": 50},
    {"method": "KNN", "n_neighbors": 5, "pca_components": 50},
    {"method": "LOF", "n_neighbors": 20, "pca_components": 50},
    {"method": "DBSCANDetector", "eps": 3.0, "min_samples": 5, "pca_components": 50},
    {"method": "RandomGuess"},
]


def main() -> None:
    """Run the grid of the lists above."""
    trainer_main(ANOMALY_CONFIG, SAMPLER_CONFIG, MODEL_CONFIG, description=__doc__.split("\n")[0],
                 dataset="mnist")


if __name__ == "__main__":
    main()
