"""Where each dataset lives and how it is read into arrays.

``load_dataset(name)`` returns ``(X_train, y_train, X_test, y_test)`` with images as ``uint8``
arrays, channel-first for colour (``(n, 3, 32, 32)`` for CIFAR-10) and ``(n, H, W)`` for
grayscale, and labels as ``int64``. ``load_tabular(path)`` reads ODDS ``.mat``, ``.npz`` and
``.csv`` anomaly sets into ``(X, y)`` with ``y == 1`` for an outlier.

Folders searched, in order: the ``root`` argument, ``$TORCH_AE_SAD_DATA/<name>``, the
repository's ``datasets/<name>``, then system locations (Debian's ``dataset-fashion-mnist``
package installs to ``/usr/share/datasets/fashion-mnist``).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import os
import pickle
import zipfile
import zlib
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from torch_ae_sad import PROJECT_ROOT
from torch_ae_sad.dataset_loaders.idx import read_idx

#: Environment variable naming a folder that holds one sub-folder per dataset.
DATA_ENV = "TORCH_AE_SAD_DATA"

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: sha256 of the *decompressed* content of known files, by dataset and file stem.
KNOWN_SHA256: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    },
    "fashion_mnist": {
        "train-images-idx3-ubyte": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
        "train-labels-idx1-ubyte": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
        "t10k-images-idx3-ubyte": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
        "t10k-labels-idx1-ubyte": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
    },
}

SYSTEM_DIRS: dict[str, list[Path]] = {
    "fashion_mnist": [Path("/usr/share/datasets/fashion-mnist")],
}

HOW_TO_GET: dict[str, str] = {
    "mnist": "the MNIST IDX files ship with the repository in datasets/mnist/",
    "fashion_mnist": ("install the Debian package 'dataset-fashion-mnist' (apt-get install "
                      "dataset-fashion-mnist), or run 'python -m torch_ae_sad.dataset_loaders."
                      "download fashion_mnist'"),
    "cifar10": ("run 'python -m torch_ae_sad.dataset_loaders.download cifar10' or unpack "
                "cifar-10-python.tar.gz there"),
}

CIFAR_TRAIN = [f"data_batch_{i}" for i in range(1, 6)]
CIFAR_TEST = ["test_batch"]


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files were not found in any searched folder."""


class ChecksumError(ValueError):
    """A file's content does not match its known sha256."""


def sha256_of(path: str | Path, *, decompress: bool = True) -> str:
    """Return the sha256 of a file's content (of the decompressed content for gzip files).

    Raises
    ------
    gzip.BadGzipFile
        An ``OSError`` naming ``path`` when its gzip stream is broken (truncated or corrupted).
    """
    path = Path(path)
    digest = hashlib.sha256()
    with open(path, "rb") as probe:
        gz = probe.read(2) == b"\x1f\x8b"
    opener: Callable = gzip.open if (gz and decompress) else open
    try:
        with opener(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise gzip.BadGzipFile(f"{path}: expected a complete gzip stream, found a broken one "
                               f"({exc})") from exc
    return digest.hexdigest()


def verify_file(path: str | Path, expected: str) -> None:
    """Raise :class:`ChecksumError` if the sha256 of ``path``'s content is not ``expected``."""
    try:
        found = sha256_of(path)
    except gzip.BadGzipFile as exc:
        raise ChecksumError(f"{path}: expected sha256 {expected}, found a broken gzip stream "
                            f"({exc.__cause__ or exc})") from exc
    if found != expected:
        raise ChecksumError(f"{path}: expected sha256 {expected}, found {found}")


def candidate_dirs(name: str, root: str | Path | None = None) -> list[Path]:
    """Return the folders searched for dataset ``name``, in order."""
    dirs: list[Path] = []
    if root is not None:
        dirs.append(Path(root))
    env = os.environ.get(DATA_ENV)
    if env:
        dirs.append(Path(env) / name)
    dirs.append(PROJECT_ROOT / "datasets" / name)
    dirs.extend(SYSTEM_DIRS.get(name, []))
    return dirs


def _not_found(name: str, dirs: list[Path], what: str) -> DatasetNotFoundError:
    looked = ", ".join(str(d) for d in dirs)
    return DatasetNotFoundError(f"dataset {name!r}: expected {what}; looked in: {looked}. "
                                f"To get it: {HOW_TO_GET.get(name, 'see datasets/README.md')}")


def _find_idx(folder: Path, stem: str) -> Path | None:
    for cand in (folder / f"{stem}.gz", folder / stem):
        if cand.is_file():
            return cand
    return None


def _idx_paths(name: str, root: str | Path | None) -> dict[str, Path]:
    """The four IDX files of ``name`` in the first searched folder that holds them all."""
    dirs = candidate_dirs(name, root)
    for folder in dirs:
        paths = {k: _find_idx(folder, stem) for k, stem in IDX_FILES.items()}
        if all(paths.values()):
            return paths  # type: ignore[return-value]
    raise _not_found(name, dirs, "the four IDX files " + ", ".join(
        f"{s}[.gz]" for s in IDX_FILES.values()))


def _read_idx_labels(path: Path) -> np.ndarray:
    labels = read_idx(path)
    if labels.ndim != 1:
        raise ValueError(f"{path}: expected (n,) labels, found shape {labels.shape}")
    return labels.astype(np.int64)


def _load_idx_labels(name: str, root: str | Path | None) -> np.ndarray:
    """The training labels of IDX dataset ``name``, read from the folder ``load_dataset`` uses."""
    return _read_idx_labels(_idx_paths(name, root)["train_labels"])


def _load_idx_dataset(name: str, root: str | Path | None, verify: bool) -> tuple[np.ndarray, ...]:
    paths = _idx_paths(name, root)
    if verify:
        for key, path in paths.items():
            verify_file(path, KNOWN_SHA256[name][IDX_FILES[key]])
    arrays = {k: read_idx(p) for k, p in paths.items()}
    for part in ("train", "test"):
        images, labels = arrays[f"{part}_images"], arrays[f"{part}_labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise ValueError(f"{paths[f'{part}_images']}: expected (n, H, W) images and (n,) "
                             f"labels, found {images.shape} and {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"{paths[f'{part}_labels']}: expected {len(images)} labels to "
                             f"match {paths[f'{part}_images']}, found {len(labels)}")
    return (arrays["train_images"], arrays["train_labels"].astype(np.int64),
            arrays["test_images"], arrays["test_labels"].astype(np.int64))


def _latin1_encode(text: str, encoding: str) -> bytes:
    """``_codecs.encode`` as Python 3 pickles of ``bytes`` (protocol < 3) use it: latin-1 only."""
    if encoding != "latin1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"_codecs.encode with {encoding!r}: only 'latin1' (how "
                                     "bytes are pickled) is allowed in a CIFAR-10 batch")
    return text.encode("latin1")


def _cifar_globals() -> dict[tuple[str, str], Any]:
    """The globals numpy's own array pickles name, under numpy 1 and numpy 2 module names.

    The callables are taken from a pickled array of this numpy (``__reduce_ex__``), not
    imported by a name read from a file.
    """
    reconstruct = np.zeros(1).__reduce__()[0]
    frombuffer = np.zeros(1).__reduce_ex__(5)[0]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray,
                                           ("numpy", "dtype"): np.dtype,
                                           ("_codecs", "encode"): _latin1_encode}
    for core in ("numpy.core", "numpy._core"):
        allowed[(f"{core}.multiarray", "_reconstruct")] = reconstruct
        allowed[(f"{core}.numeric", "_frombuffer")] = frombuffer
    return allowed


class CifarUnpickler(pickle.Unpickler):
    """Unpickles what the official CIFAR-10 python batches hold, and nothing else.

    The official batches are dicts of ``bytes`` keys -> lists, bytes and numpy arrays; an
    array unpickles through ``numpy.core.multiarray._reconstruct`` (``numpy._core`` in numpy
    2; ``numpy._core.numeric._frombuffer`` with protocol 5), ``numpy.ndarray`` and
    ``numpy.dtype``. Every other global (a class or function a doctored file names, such as
    ``os.system``) raises :class:`pickle.UnpicklingError` before anything is called.
    """

    _allowed = _cifar_globals()

    def find_class(self, module: str, name: str) -> Any:
        """The allowed global ``module.name``; an UnpicklingError for any other."""
        found = self._allowed.get((module, name))
        if found is None:
            raise pickle.UnpicklingError(f"global {module}.{name} is not allowed in a CIFAR-10 "
                                         "batch (it holds only dicts, lists, bytes and numpy "
                                         "arrays)")
        return found

    def persistent_load(self, pid: Any) -> Any:
        """Refused: the official batches hold no persistent ids."""
        raise pickle.UnpicklingError("persistent ids are not allowed in a CIFAR-10 batch")


def _read_cifar_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    with open(path, "rb") as fh:
        try:
            batch = CifarUnpickler(fh, encoding="bytes").load()
        except Exception as exc:  # a broken pickle raises almost anything
            raise ValueError(f"{path}: expected a CIFAR-10 python pickle, found unreadable "
                             f"content ({type(exc).__name__}: {exc})") from exc
    if not isinstance(batch, dict):
        raise ValueError(f"{path}: expected a CIFAR-10 batch dict, found a pickled "
                         f"{type(batch).__name__}")
    data = batch.get(b"data", batch.get("data"))
    labels = batch.get(b"labels", batch.get("labels"))
    if data is None or labels is None:
        raise ValueError(f"{path}: expected a CIFAR-10 batch dict with 'data' and 'labels', "
                         f"found keys {sorted(map(str, batch))}")
    try:
        data, labels = np.asarray(data, dtype=np.uint8), np.asarray(labels, dtype=np.int64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: expected uint8 data and int labels, found unconvertible "
                         f"values ({exc})") from exc
    if data.ndim != 2 or data.shape[1] != 3072 or labels.ndim != 1 or len(data) != len(labels):
        raise ValueError(f"{path}: expected data of shape (n, 3072) and n labels, found "
                         f"{data.shape} and labels of shape {labels.shape}")
    return data.reshape(-1, 3, 32, 32), labels


def _load_cifar10(root: str | Path | None) -> tuple[np.ndarray, ...]:
    dirs = candidate_dirs("cifar10", root)
    for folder in dirs:
        for sub in (folder, folder / "cifar-10-batches-py"):
            if all((sub / f).is_file() for f in CIFAR_TRAIN + CIFAR_TEST):
                train = [_read_cifar_batch(sub / f) for f in CIFAR_TRAIN]
                x_te, y_te = _read_cifar_batch(sub / CIFAR_TEST[0])
                return (np.concatenate([b[0] for b in train]),
                        np.concatenate([b[1] for b in train]), x_te, y_te)
    raise _not_found("cifar10", dirs, "the python pickles data_batch_1..5 and test_batch "
                     "(optionally inside cifar-10-batches-py/)")


def _load_digits() -> tuple[np.ndarray, ...]:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    x_tr, x_te, y_tr, y_te = train_test_split(images, bunch.target.astype(np.int64),
                                              test_size=0.3, stratify=bunch.target,
                                              random_state=0)
    return x_tr, y_tr, x_te, y_te


#: Dataset name -> loader taking ``(root, verify)``.
DATASETS: dict[str, Callable[[str | Path | None, bool], tuple[np.ndarray, ...]]] = {
    "mnist": lambda root, verify: _load_idx_dataset("mnist", root, verify),
    "fashion_mnist": lambda root, verify: _load_idx_dataset("fashion_mnist", root, verify),
    "cifar10": lambda root, verify: _load_cifar10(root),
    "digits": lambda root, verify: _load_digits(),
}


#: Dataset name -> reader of the training labels alone, taking ``root``; a dataset without
#: one has its labels taken from its full loader (:func:`load_train_labels`).
TRAIN_LABELS: dict[str, Callable[[str | Path | None], np.ndarray]] = {
    "mnist": lambda root: _load_idx_labels("mnist", root),
    "fashion_mnist": lambda root: _load_idx_labels("fashion_mnist", root),
}


def check_dataset_name(name: str) -> str:
    """Return ``name`` if it is a known dataset, else raise a ValueError listing them."""
    if not isinstance(name, str) or name not in DATASETS:
        raise ValueError(f"dataset: unknown dataset {name!r}; expected one of "
                         f"{sorted(DATASETS)}")
    return name


def load_dataset(name: str, root: str | Path | None = None, *, verify: bool = False
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Load a dataset's official train and test parts.

    Parameters
    ----------
    name : {"mnist", "fashion_mnist", "cifar10", "digits"}
        The dataset. ``digits`` is scikit-learn's bundled 8x8 set (split 70/30, stratified,
        seed 0; pixel values rescaled from 0..16 to 0..255).
    root : str or Path, optional
        A folder to look in first.
    verify : bool
        Check the files against their known sha256 (MNIST, Fashion-MNIST).

    Returns
    -------
    X_train, y_train, X_test, y_test : np.ndarray
        ``uint8`` images (``(n, H, W)`` or ``(n, C, H, W)``) and ``int64`` labels. The arrays
        are cached per ``(name, root, verify)``; copy before writing into them.
    """
    check_dataset_name(name)
    if root is None and name in _PROVIDED:
        return _PROVIDED[name]
    root_key = None if root is None else str(Path(root).resolve())
    return _load_cached(name, root_key, verify)


#: Arrays handed to this process by :func:`provide_dataset` (e.g. by a Ray driver).
_PROVIDED: dict[str, tuple[np.ndarray, ...]] = {}


#: Suffixes of the tabular files a spec's ``dataset`` may name (:func:`load_tabular`).
TABULAR_SUFFIXES = (".npz", ".mat", ".csv")


def is_tabular_path(name: object) -> bool:
    """Whether a spec's ``dataset`` names a tabular file (by its suffix) rather than a dataset."""
    return isinstance(name, str) and Path(name).suffix.lower() in TABULAR_SUFFIXES


def load_source(name: str) -> tuple[np.ndarray, ...]:
    """The arrays of a spec's ``dataset``: ``(X, y)`` of a tabular file, else the four parts."""
    return load_tabular(name) if is_tabular_path(name) else load_dataset(name)


def provide_dataset(name: str, arrays: tuple[np.ndarray, ...]) -> None:
    """Make ``load_dataset(name)`` or ``load_tabular(name)`` return ``arrays``, here only.

    A cluster driver that loaded a dataset ships its arrays to each worker once (through
    Ray's object store) and provides them here, so the workers need no copy of the files.
    ``arrays`` are ``(X_train, y_train, X_test, y_test)``, or ``(X, y)`` for a tabular file.
    """
    expected = 2 if is_tabular_path(name) else 4
    if not is_tabular_path(name):
        check_dataset_name(name)
    if len(arrays) != expected:
        what = "(X, y)" if expected == 2 else "(X_train, y_train, X_test, y_test)"
        raise ValueError(f"arrays: expected {what}, found {len(arrays)} arrays")
    _PROVIDED[name] = tuple(arrays)


@lru_cache(maxsize=4)
def _load_cached(name: str, root: str | None, verify: bool) -> tuple[np.ndarray, ...]:
    arrays = DATASETS[name](root, verify)
    for arr in arrays:
        arr.setflags(write=False)
    return arrays


def load_train_labels(name: str, root: str | Path | None = None) -> np.ndarray:
    """Load a dataset's training labels, reading as little as its format allows.

    MNIST and Fashion-MNIST read their training labels file alone (from the folder
    :func:`load_dataset` would use); other datasets are loaded whole by :func:`load_dataset`
    (and stay in its cache for the split built next).

    Parameters
    ----------
    name : str
        The dataset (see :func:`load_dataset`).
    root : str or Path, optional
        A folder to look in first.

    Returns
    -------
    np.ndarray
        ``int64`` labels, read-only, cached per ``(name, root)``.
    """
    check_dataset_name(name)
    root_key = None if root is None else str(Path(root).resolve())
    return _labels_cached(name, root_key)


@lru_cache(maxsize=8)
def _labels_cached(name: str, root: str | None) -> np.ndarray:
    reader = TRAIN_LABELS.get(name)
    if root is None and name in _PROVIDED:
        labels = _PROVIDED[name][1]
    else:
        labels = reader(root) if reader is not None else _load_cached(name, root, False)[1]
    labels = np.asarray(labels, dtype=np.int64)
    labels.setflags(write=False)
    return labels


def _read_csv(path: Path, label_column: str | int | None) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, newline="") as fh:
            rows = list(csv.reader(fh))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"{path}: expected a text CSV file, found unreadable content "
                         f"({exc})") from exc
    rows = [r for r in rows if r]  # blank lines
    if not rows:
        raise ValueError(f"{path}: expected a CSV file with rows, found an empty file")
    header = None
    try:
        [float(v) for v in rows[0]]
    except ValueError:
        header, rows = rows[0], rows[1:]
    if not rows:
        raise ValueError(f"{path}: expected data rows after the header, found none")
    widths = sorted({len(r) for r in rows})
    if len(widths) > 1:
        odd = next(i for i, r in enumerate(rows) if len(r) != len(rows[0]))
        raise ValueError(f"{path}: expected rows of equal length, found lengths {widths} "
                         f"(data row {odd + 1} differs from the first)")
    try:
        table = np.asarray(rows, dtype=np.float64)
    except ValueError as exc:
        raise ValueError(f"{path}: expected numbers in every data row, found {exc}") from exc
    if label_column is None:
        col = table.shape[1] - 1
    elif isinstance(label_column, int):
        if not -table.shape[1] <= label_column < table.shape[1]:
            raise ValueError(f"{path}: expected a label column index below "
                             f"{table.shape[1]}, found {label_column}")
        col = label_column % table.shape[1]
    else:
        if header is None or label_column not in header:
            raise ValueError(f"{path}: expected a label column {label_column!r}, found columns "
                             f"{header}")
        col = header.index(label_column)
    y = table[:, col]
    return np.delete(table, col, axis=1), y


def _read_npz(path: Path) -> tuple[np.ndarray | None, np.ndarray | None]:
    broken = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)
    try:
        npz = np.load(path, allow_pickle=False)
    except broken as exc:
        raise ValueError(f"{path}: expected an .npz archive of arrays X and y, found "
                         f"unreadable content ({type(exc).__name__}: {exc})") from exc
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: expected an .npz archive of arrays X and y, found a single "
                         ".npy array")
    with npz:
        try:
            return (npz["X"] if "X" in npz else None), (npz["y"] if "y" in npz else None)
        except broken as exc:
            raise ValueError(f"{path}: expected an .npz archive of arrays X and y, found "
                             f"unreadable content ({type(exc).__name__}: {exc})") from exc


def load_tabular(path: str | Path, *, label_column: str | int | None = None
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Read a tabular anomaly set: ODDS ``.mat`` or ``.npz`` (keys ``X``, ``y``) or ``.csv``.

    Parameters
    ----------
    path : str or Path
        The file.
    label_column : str or int, optional
        CSV only: the label column's header name or index (default: the last column).

    Returns
    -------
    X : np.ndarray of float32, shape (n, d)
    y : np.ndarray of int64, shape (n,)
        ``1`` for an outlier, ``0`` for an inlier.
    """
    if label_column is None and str(path) in _PROVIDED:
        return _PROVIDED[str(path)]
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"tabular file not found: {path}")
    suffix = path.suffix.lower()
    if suffix == ".mat":
        from scipy.io import loadmat

        try:
            mat = loadmat(path)
        except NotImplementedError as exc:  # MATLAB v7.3 files are HDF5
            raise ValueError(f"{path}: a MATLAB v7.3 (HDF5) file; expected v5 .mat, convert it "
                             "to .npz with keys X and y") from exc
        except Exception as exc:  # a broken .mat raises ValueError, TypeError, OSError, ...
            raise ValueError(f"{path}: expected a MATLAB v5 .mat file, found unreadable "
                             f"content ({type(exc).__name__}: {exc})") from exc
        X, y = mat.get("X"), mat.get("y")
    elif suffix == ".npz":
        X, y = _read_npz(path)
    elif suffix == ".csv":
        X, y = _read_csv(path, label_column)
    else:
        raise ValueError(f"{path}: expected a .mat, .npz or .csv file, found {suffix!r}")
    if X is None or y is None:
        raise ValueError(f"{path}: expected arrays 'X' and 'y'")
    try:
        X = np.asarray(X, dtype=np.float32)
        y = np.asarray(y).ravel()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{path}: expected numeric arrays X and y, found unconvertible values "
                         f"({exc})") from exc
    if X.ndim != 2 or len(X) != len(y):
        raise ValueError(f"{path}: expected X of shape (n, d) and n labels, found {X.shape} and "
                         f"{y.shape}")
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise ValueError(f"{path}: expected labels in {{0, 1}}, found {sorted(values)}")
    return X, y.astype(np.int64)
