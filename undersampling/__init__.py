"""2D imbalanced data sets and a visual explanation of every under-sampler of the package.

:mod:`undersampling.data` draws the sets; :mod:`undersampling.visualize` (also the command
line ``python -m undersampling.visualize``) draws what each sampler of
:data:`torch_ae_sad.dataset_loaders.sampling.SAMPLERS` keeps and removes.
"""

from undersampling.data import DATASETS_2D, Dataset2D, get_dataset, make_imbalanced, make_split

__all__ = ["DATASETS_2D", "Dataset2D", "get_dataset", "make_imbalanced", "make_split"]
