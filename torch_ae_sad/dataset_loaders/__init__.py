"""Datasets, anomaly-detection splits and under-sampling.

Label convention: ``y_train == 1`` marks a labelled anomaly, ``0`` a normal or unlabelled
sample; validation and test labels are ``1`` for an anomaly.
"""

from torch_ae_sad.dataset_loaders.idx import IDXFormatError, read_idx, write_idx
from torch_ae_sad.dataset_loaders.sampling import (
    SAMPLERS,
    SamplerEntry,
    check_ratio,
    get_sampler,
    project,
    undersample,
)
from torch_ae_sad.dataset_loaders.scaling import SCALINGS, check_scaling, scale_split
from torch_ae_sad.dataset_loaders.sources import (
    DATASETS,
    ChecksumError,
    DatasetNotFoundError,
    check_dataset_name,
    is_tabular_path,
    load_dataset,
    load_source,
    load_tabular,
    load_train_labels,
    provide_dataset,
)
from torch_ae_sad.dataset_loaders.splits import (
    Split,
    adbench_split,
    add_test_noise,
    check_split_request,
    many_vs_many,
    one_vs_all,
    tabular_split,
    to_unit_float,
)

__all__ = [
    "DATASETS",
    "SAMPLERS",
    "SCALINGS",
    "ChecksumError",
    "DatasetNotFoundError",
    "IDXFormatError",
    "SamplerEntry",
    "Split",
    "add_test_noise",
    "check_dataset_name",
    "adbench_split",
    "check_split_request",
    "check_ratio",
    "check_scaling",
    "get_sampler",
    "load_dataset",
    "load_tabular",
    "load_train_labels",
    "is_tabular_path",
    "load_source",
    "provide_dataset",
    "many_vs_many",
    "one_vs_all",
    "project",
    "read_idx",
    "scale_split",
    "tabular_split",
    "to_unit_float",
    "undersample",
    "write_idx",
]
