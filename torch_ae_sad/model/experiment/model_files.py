"""Model files: a fitted detector as data only, so that opening one runs no code.

A model file (``<run_id>.model.pt``, :data:`FORMAT` version :data:`FORMAT_VERSION`) is
``torch.save`` of one plain dict, read back with ``torch.load(..., weights_only=True)``:
PyTorch's restricted unpickler, which rebuilds containers, numbers, strings, bytes and
tensors and refuses every other object, so a doctored file cannot run code when it is opened.
The dict holds:

``format``, ``format_version``
    ``"torch_ae_sad.model"`` and ``1``.
``detector``
    The class name; on load the class is looked up in
    :data:`torch_ae_sad.model.base.DETECTORS` (never imported by a name from the file).
``params``
    ``get_params()`` as JSON text; the detector is rebuilt as ``cls(**params)``.
``fitted``
    The fitted attributes (public names ending in ``_``; the networks and the run-time ones
    such as ``device_`` left out), as data (:func:`encode`): None, bool, int, float, str,
    bytes, and lists, tuples and dicts of them; numpy arrays and scalars as ``.npy`` bytes
    (``allow_pickle=False``: no object arrays); tensors (CPU copies). The classical detectors'
    fitted scikit-learn estimators are stored as their class name, one of the allow-list
    :data:`ESTIMATORS`, and their attributes as the same data; a fitted decision tree (the
    trees of :class:`~sklearn.ensemble.IsolationForest`) as its constructor arguments and node
    arrays, checked on load (children after their parent, features in range); a neighbour
    search index (KD or ball tree) as its class name only: on load it is rebuilt from the
    estimator's stored training points, as scikit-learn's ``fit`` builds it.
``networks``
    Network attribute (``_network_attrs``: ``module_``; Deep SAD's ``module_`` is its encoder
    ``phi``; the GAN adds ``discriminators_``) -> its ``state_dict``, copied to the CPU (the
    live detector is not touched). On load each one goes into the network the detector
    rebuilds from its fitted attributes (``_build_networks``: input shape, resolved
    activations, ...), on the CPU, in eval mode.
``versions``
    The writer's torch_ae_sad, torch, scikit-learn and numpy versions (for information).

:func:`dumps` raises :class:`ModelNotStorable` for a detector whose state is not such data
(the runner then stores no model and says why in the record); :func:`read` raises
:class:`ModelFileError`, naming the file and how to re-create it, for anything but a model
file of a known format: a model file of the old pickled kind is not unpickled unless the
caller trusts it (``trust_pickle=True``, with a warning).
"""

from __future__ import annotations

import io
import json
import pickle
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
import torch
from sklearn.cluster import DBSCAN
from sklearn.decomposition import PCA
from sklearn.ensemble import IsolationForest
from sklearn.neighbors import BallTree, KDTree, LocalOutlierFactor, NearestNeighbors
from sklearn.svm import OneClassSVM
from sklearn.tree import ExtraTreeRegressor
from sklearn.tree._tree import Tree
from torch import nn

import torch_ae_sad
from torch_ae_sad.model.base import DETECTORS, BaseDetector

#: The ``format`` of a model file.
FORMAT = "torch_ae_sad.model"
#: The ``format_version`` this module writes (and the newest it reads).
FORMAT_VERSION = 1
#: Key of a tagged value (an array, an estimator, ...) in the encoded data.
KIND = "__kind__"
#: The scikit-learn estimators a model file may hold, by class name.
ESTIMATORS: dict[str, type] = {cls.__name__: cls for cls in (
    PCA, IsolationForest, ExtraTreeRegressor, OneClassSVM, NearestNeighbors,
    LocalOutlierFactor, DBSCAN)}
#: Neighbour search indexes, rebuilt on load from their estimator's training points.
INDEXES: dict[str, type] = {cls.__name__: cls for cls in (KDTree, BallTree)}
#: How to get a model file this version opens (appended to the errors of :func:`read`).
RECREATE = ("re-create it by running the trainer again on the same grid with --save-models "
            "(it runs again the runs whose model file is missing or of an older format); an "
            "old model file you made yourself opens with load_model(path, trust_pickle=True) "
            "or the analysis scripts' --trust-pickled-models, which unpickle it and so run "
            "any code it holds")
_SCALARS = (bool, int, float, str, bytes)


class ModelFileError(ValueError):
    """A file that is not a model file this version opens (the message names the file)."""


class ModelNotStorable(ValueError):
    """A detector whose fitted state is not data a model file holds (the message says what)."""


class _IndexMark:
    """Where a neighbour index was: rebuilt once its estimator's attributes are set."""

    def __init__(self, cls: type) -> None:
        self.cls = cls


# ----------------------------------------------------------------------------- encoding
def encode(value: Any, where: str = "value") -> Any:
    """``value`` as data ``torch.load(..., weights_only=True)`` reads (see the module doc).

    Raises
    ------
    ModelNotStorable
        Naming where in the value an object that is not such data sits.
    """
    if value is None or type(value) in _SCALARS:
        return value
    if isinstance(value, np.ndarray | np.generic):
        kind = "ndarray" if isinstance(value, np.ndarray) else "numpy_scalar"
        return {KIND: kind, "npy": _npy(np.asarray(value), where)}
    if isinstance(value, torch.Tensor):
        return {KIND: "tensor", "data": value.detach().to("cpu", copy=True)}
    if isinstance(value, list | tuple):
        items = [encode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict):
        return _encode_dict(value, where)
    if isinstance(value, Tree):
        _, (n_features, n_classes, n_outputs), state = value.__reduce__()
        return {KIND: "sklearn_tree", "n_features": int(n_features), "n_outputs": int(n_outputs),
                "n_classes": encode(np.asarray(n_classes), where),
                "state": _encode_dict(state, f"{where}.tree")}
    name = type(value).__name__
    if INDEXES.get(name) is type(value):
        return {KIND: "neighbors_index", "class": name}
    if ESTIMATORS.get(name) is type(value):
        return {KIND: "estimator", "class": name,
                "state": _encode_dict(value.__getstate__(), f"{where}({name})")}
    raise ModelNotStorable(f"{where}: a {type(value).__module__}.{type(value).__qualname__} "
                           "is not data a model file holds (numbers, strings, lists, dicts, "
                           f"arrays, tensors, or the scikit-learn estimators {sorted(ESTIMATORS)})")


def _encode_dict(value: dict[Any, Any], where: str) -> dict[Any, Any]:
    out = {}
    for key, item in value.items():
        if type(key) not in (str, int) or key == KIND:
            raise ModelNotStorable(f"{where}: key {key!r}: expected str or int keys")
        out[key] = encode(item, f"{where}.{key}")
    return out


def _npy(array: np.ndarray, where: str) -> bytes:
    if array.dtype.hasobject:
        raise ModelNotStorable(f"{where}: an array of Python objects (dtype {array.dtype}) is "
                               "not data a model file holds")
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _cpu_state(module: Any, where: str) -> dict[str, torch.Tensor]:
    """A CPU copy of a network's ``state_dict`` (the network itself is not moved)."""
    if not isinstance(module, nn.Module):
        raise ModelNotStorable(f"{where}: expected a torch module, found "
                               f"{type(module).__name__}")
    state = module.state_dict()
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ModelNotStorable(f"{where}: state entries that are not tensors: {bad}")
    return {k: v.detach().to("cpu", copy=True) for k, v in state.items()}


def dumps(detector: BaseDetector) -> bytes:
    """The model file of a fitted detector, as bytes (the detector is left as it was).

    Raises
    ------
    ModelNotStorable
        When the detector is not a registered one, its parameters are not JSON, or a fitted
        attribute is not data a model file holds (the message says which).
    """
    cls = type(detector)
    name = cls.__name__
    if DETECTORS.get(name) is not cls:
        raise ModelNotStorable(f"{cls.__qualname__} is not a registered detector "
                               "(torch_ae_sad.model.base.DETECTORS)")
    try:
        params = json.dumps(detector.get_params(deep=False))
    except (TypeError, ValueError) as exc:
        raise ModelNotStorable(f"{name}: its parameters are not JSON ({exc})") from None
    fitted, networks = detector._state()
    payload = {
        "format": FORMAT, "format_version": FORMAT_VERSION, "detector": name, "params": params,
        "fitted": _encode_dict(fitted, name),
        "networks": {attr: _cpu_state(module, f"{name}.{attr}")
                     for attr, module in networks.items()},
        "versions": {"torch_ae_sad": torch_ae_sad.__version__, "torch": str(torch.__version__),
                     "sklearn": sklearn.__version__, "numpy": np.__version__}}
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


# ----------------------------------------------------------------------------- decoding
def decode(value: Any, where: str = "value") -> Any:
    """The value :func:`encode` encoded; a ValueError naming ``where`` for anything else."""
    if value is None or type(value) in _SCALARS:
        return value
    if isinstance(value, list | tuple):
        items = [decode(v, f"{where}[{i}]") for i, v in enumerate(value)]
        return items if isinstance(value, list) else tuple(items)
    if isinstance(value, dict) and KIND in value:
        return _decode_tagged(value, where)
    if isinstance(value, dict):
        if not all(type(k) in (str, int) for k in value):
            raise ValueError(f"{where}: expected str or int keys, found {list(value)[:5]}")
        return {k: decode(v, f"{where}.{k}") for k, v in value.items()}
    raise ValueError(f"{where}: unexpected {type(value).__name__} in the data")


def _decode_tagged(value: dict[str, Any], where: str) -> Any:
    kind = value[KIND]
    if kind in ("ndarray", "numpy_scalar"):
        npy = value.get("npy")
        if type(npy) is not bytes:
            raise ValueError(f"{where}: expected the .npy bytes of an array")
        array = np.load(io.BytesIO(npy), allow_pickle=False)
        return array if kind == "ndarray" else array[()]
    if kind == "tensor" and isinstance(value.get("data"), torch.Tensor):
        return value["data"]
    if kind == "estimator":
        return _decode_estimator(value, where)
    if kind == "sklearn_tree":
        return _decode_tree(value, where)
    if kind == "neighbors_index" and value.get("class") in INDEXES:
        return _IndexMark(INDEXES[value["class"]])
    raise ValueError(f"{where}: unknown or malformed value of kind {kind!r}")


def _decode_estimator(value: dict[str, Any], where: str) -> Any:
    """An allow-listed scikit-learn estimator, its attributes set, its index rebuilt."""
    name = value.get("class")
    cls = ESTIMATORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"{where}: estimator {name!r} is not one a model file may hold "
                         f"({sorted(ESTIMATORS)})")
    where = f"{where}({name})"
    state = decode(value.get("state"), where)
    if not isinstance(state, dict) or not all(isinstance(k, str) and k.isidentifier()
                                              for k in state):
        raise ValueError(f"{where}: expected a dict of attribute names")
    marks = {k: v for k, v in state.items() if isinstance(v, _IndexMark)}
    estimator = cls.__new__(cls)
    estimator.__setstate__({k: v for k, v in state.items() if k not in marks})
    for key, mark in marks.items():
        setattr(estimator, key, _rebuild_index(estimator, mark.cls, where))
    if isinstance(estimator, OneClassSVM):
        _check_svm(estimator, where)
    return estimator


def _rebuild_index(estimator: Any, cls: type, where: str) -> Any:
    """The neighbour index scikit-learn's ``fit`` builds on the estimator's training points."""
    points = getattr(estimator, "_fit_X", None)
    if not (isinstance(points, np.ndarray) and points.ndim == 2):
        raise ValueError(f"{where}: a neighbour index without its training points")
    return cls(points, estimator.leaf_size, metric=estimator.effective_metric_,
               **(estimator.effective_metric_params_ or {}))


def _check_svm(svm: OneClassSVM, where: str) -> None:
    """Support vectors, coefficients and counts that agree (libsvm trusts them)."""
    n = len(svm.support_)
    vectors = np.asarray(svm.support_vectors_)
    if not (vectors.shape == (n, svm.n_features_in_) and svm._dual_coef_.shape == (1, n)
            and svm._intercept_.shape == (1,)
            and bool(np.all((svm._n_support >= 0) & (svm._n_support <= n)))):
        raise ValueError(f"{where}: support vectors, coefficients and counts disagree")


def _decode_tree(value: dict[str, Any], where: str) -> Tree:
    """A fitted decision tree from its arguments and node arrays, the nodes checked."""
    n_features, n_outputs = value.get("n_features"), value.get("n_outputs")
    n_classes = decode(value.get("n_classes"), where)
    state = decode(value.get("state"), f"{where}.tree")
    if not (type(n_features) is int and type(n_outputs) is int and n_features > 0
            and n_outputs > 0 and isinstance(n_classes, np.ndarray)
            and n_classes.shape == (n_outputs,) and isinstance(state, dict)):
        raise ValueError(f"{where}: malformed decision tree")
    nodes, count = state.get("nodes"), state.get("node_count")
    fields = {"left_child", "right_child", "feature"}
    if not (isinstance(nodes, np.ndarray) and nodes.ndim == 1 and nodes.dtype.names
            and fields <= set(nodes.dtype.names) and type(count) is int and len(nodes) == count):
        raise ValueError(f"{where}: malformed decision tree nodes")
    index = np.arange(count)
    left, right, feature = (nodes[f].astype(np.int64) for f in ("left_child", "right_child",
                                                                "feature"))
    leaf = (left == -1) & (right == -1)
    inner = ((left > index) & (right > index) & (left < count) & (right < count)
             & (feature >= 0) & (feature < n_features))
    if not (leaf | inner).all():
        raise ValueError(f"{where}: decision tree nodes whose children or features are out "
                         "of range")
    tree = Tree(n_features, n_classes.astype(np.intp), n_outputs)
    tree.__setstate__(state)
    return tree


def from_payload(payload: Any) -> BaseDetector:
    """The detector a loaded model-file dict describes, on the CPU.

    Raises
    ------
    ValueError
        Saying what is wrong: not a model file, a newer format, an unknown detector, data or
        networks that do not fit the detector.
    """
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise ValueError(f"not a model file of this project (no 'format': {FORMAT!r})")
    version = payload.get("format_version")
    if type(version) is not int or not 1 <= version <= FORMAT_VERSION:
        raise ValueError(f"format_version {version!r}: this version of torch_ae_sad reads "
                         f"format_version 1 to {FORMAT_VERSION} (update torch_ae_sad to read "
                         "newer files)")
    name = payload.get("detector")
    cls = DETECTORS.get(name) if isinstance(name, str) else None
    if cls is None:
        raise ValueError(f"unknown detector {name!r} (known: {', '.join(sorted(DETECTORS))})")
    params = json.loads(payload.get("params") or "null")
    if not isinstance(params, dict):
        raise ValueError("expected the detector's parameters as a JSON object")
    detector = cls(**params)
    fitted = decode(payload.get("fitted"), name)
    networks = payload.get("networks")
    if not (isinstance(fitted, dict) and isinstance(networks, dict) and all(
            isinstance(state, dict) and all(isinstance(k, str) and isinstance(t, torch.Tensor)
                                            for k, t in state.items())
            for state in networks.values())):
        raise ValueError("expected 'fitted' attributes and 'networks' of tensors")
    detector._restore(fitted, networks)
    return detector


# ----------------------------------------------------------------------------- reading
def read(path: str | Path, *, trust_pickle: bool = False) -> BaseDetector:
    """Load the detector of model file ``path`` on the CPU, running no code of the file.

    Parameters
    ----------
    path : str or Path
        The model file.
    trust_pickle : bool
        Also open a model file of the old pickled kind (whole detectors pickled by
        ``torch.save``), with a warning: unpickling runs any code the file holds, so pass it
        only for files you made yourself.

    Raises
    ------
    ModelFileError
        Naming the file, what it is, and how to re-create it (:data:`RECREATE`).
    FileNotFoundError
        When there is no such file.
    """
    path = Path(path)
    try:
        with warnings.catch_warnings():  # torch's note on the protocol of a refused pickle
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            payload = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise
    except Exception as exc:  # noqa: BLE001 - a file that does not parse raises almost anything
        if trust_pickle:
            return _read_pickled(path)
        raise ModelFileError(f"{path}: {_refused(exc)}; {RECREATE}") from None
    try:
        return from_payload(payload)
    except Exception as exc:  # noqa: BLE001 - malformed data, wrong shapes, bad parameters
        raise ModelFileError(f"{path}: not a model file this version opens "
                             f"({type(exc).__name__}: {exc}); {RECREATE}") from None


def _refused(exc: BaseException) -> str:
    """Why ``torch.load(..., weights_only=True)`` did not open a file, in words."""
    found = re.search(r"Unsupported global: GLOBAL ([\w.]+)", str(exc))
    if isinstance(exc, pickle.UnpicklingError) and found:
        return (f"not opened: it is a pickle of Python objects (it names {found.group(1)}: a "
                "model file of the old kind, written before model files held data only, or a "
                "file from elsewhere), and unpickling it could run any code it holds")
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (f"not a model file: it does not parse as one (not a torch.save file of data only; "
            f"maybe a pickle of other objects) ({type(exc).__name__}: "
            f"{(lines[0] if lines else '')[:160]})")


def _read_pickled(path: Path) -> BaseDetector:
    """Unpickle an old model file (``trust_pickle=True``), with a warning."""
    warnings.warn(f"{path}: unpickling a model file of the old kind (trust_pickle=True, "
                  "--trust-pickled-models): this runs any code the file holds; do it only for "
                  "files you made yourself", UserWarning, stacklevel=3)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as exc:  # noqa: BLE001 - a file that does not parse raises almost anything
        raise ModelFileError(f"{path}: not a model file: it does not parse "
                             f"({type(exc).__name__}: {exc}); {RECREATE}") from None
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        try:
            return from_payload(obj)
        except Exception as exc:  # noqa: BLE001 - as in read
            raise ModelFileError(f"{path}: not a model file this version opens "
                                 f"({type(exc).__name__}: {exc}); {RECREATE}") from None
    if not isinstance(obj, BaseDetector):
        raise ModelFileError(f"{path}: holds a {type(obj).__name__}, not a detector; {RECREATE}")
    if hasattr(obj, "device_"):
        for name in obj._network_attrs:
            getattr(obj, name).cpu()
        obj.device_ = torch.device("cpu")
    return obj
