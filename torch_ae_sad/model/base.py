"""Base classes of every detector: the scikit-learn-style API and the torch plumbing.

Detectors follow scikit-learn: ``__init__`` only stores hyper-parameters; ``fit(X, y)``
returns ``self`` and sets ``decision_scores_`` (training scores) and ``threshold_`` (the
``1 - contamination`` quantile of them); ``decision_function(X)`` returns anomaly scores
(higher = more anomalous); ``predict(X)`` returns 0/1 by ``threshold_``.

``y`` in ``fit`` follows the package convention: 0 normal or unlabelled, 1 labelled anomaly.
Images may be passed as ``(n, H, W)``, ``(n, C, H, W)`` or flattened; ``uint8`` input is
divided by 255.
"""

from __future__ import annotations

import numbers
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted
from torch import nn

from torch_ae_sad.model.training import (
    ForwardFn,
    LossFn,
    ScoreFn,
    Stage,
    StagePlan,
    StageResult,
    TrainConfig,
    Update,
    run_stage,
    run_stages,
)
from torch_ae_sad.utils.device import resolve_device
from torch_ae_sad.utils.seeding import deterministic_mode, make_generator, seeded

#: Detector name -> class, filled by subclasses of :class:`BaseDetector` as they are defined.
DETECTORS: dict[str, type[BaseDetector]] = {}

#: Class decorator declaring a detector's hyper-parameters as keyword-only dataclass fields:
#: the generated ``__init__`` only stores them (what scikit-learn's ``clone`` needs).
hyperparameters = dataclass(eq=False, repr=False, kw_only=True)


@hyperparameters
class BaseDetector(BaseEstimator):
    """Common API of every detector (see the module docstring).

    Subclasses are decorated with :data:`hyperparameters`, declare their hyper-parameters as
    annotated class attributes with defaults, and implement ``_fit(X, y)`` and ``_score(X)`` on
    validated float32 arrays.

    Parameters
    ----------
    contamination : float
        Fraction of training samples above ``threshold_``.
    """

    #: Whether the method is defined with labelled anomalies (warn when it gets none).
    uses_labels: ClassVar[bool] = False
    #: ``"all"``: train on every sample with its label; ``"normal"``: on ``y == 0`` only
    #: (unsupervised methods: the labelled anomalies are left out of training).
    train_on: ClassVar[str] = "all"
    #: Fitted attributes that hold torch networks: a model file stores their ``state_dict``
    #: and :meth:`_build_networks` rebuilds them on load (none for the classical detectors).
    _network_attrs: ClassVar[tuple[str, ...]] = ()
    #: Fitted attributes of the process only (e.g. ``device_``), left out of model files.
    _runtime_attrs: ClassVar[tuple[str, ...]] = ()

    contamination: float = 0.1

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__name__.startswith(("Base", "Torch", "_")):
            DETECTORS[cls.__name__] = cls

    # -- validation -------------------------------------------------------------------------
    def _as_array(self, X: Any, name: str = "X") -> np.ndarray:
        """Return ``X`` as finite float32 with a channel axis for ``(n, H, W)`` images."""
        X = np.asarray(X)
        if X.dtype == np.uint8:
            X = X.astype(np.float32) / 255.0
        elif not np.issubdtype(X.dtype, np.number) and X.dtype != np.bool_:
            raise TypeError(f"{name}: expected numeric data, found dtype {X.dtype}")
        X = np.ascontiguousarray(X, dtype=np.float32)
        if X.ndim < 2 or len(X) == 0:
            raise ValueError(f"{name}: expected a non-empty array of shape (n, ...), found "
                             f"{X.shape}")
        bad = ~np.isfinite(X.reshape(len(X), -1)).all(axis=1)
        if bad.any():
            raise ValueError(f"{name}: expected finite values, found NaN or inf in "
                             f"{int(bad.sum())} "
                             f"samples (first at index {int(np.flatnonzero(bad)[0])})")
        if X.ndim == 3:
            X = X[:, None]
        return X

    def _validate_X(self, X: Any, *, fitting: bool) -> np.ndarray:
        if not fitting:
            check_is_fitted(self, "threshold_")
        X = self._as_array(X)
        if fitting:
            self.input_shape_ = tuple(X.shape[1:])
            self.n_features_in_ = int(np.prod(self.input_shape_))
        else:
            if int(np.prod(X.shape[1:])) != self.n_features_in_:
                raise ValueError(f"X: expected {self.n_features_in_} features per sample "
                                 f"(shape {self.input_shape_}) as in fit, found {X.shape[1:]}")
            X = X.reshape(len(X), *self.input_shape_)
        return X

    def _validate_y(self, y: Any, n: int) -> np.ndarray:
        if y is None:
            y = np.zeros(n, dtype=np.int64)
        y = np.asarray(y).ravel()
        if len(y) != n:
            raise ValueError(f"y: expected {n} labels (one per sample of X), found {len(y)}")
        values = np.unique(y)
        if not np.isin(values, [0, 1]).all():
            raise ValueError(f"y: expected 0 (normal/unlabelled) or 1 (labelled anomaly), found "
                             f"values {values[~np.isin(values, [0, 1])].tolist()}")
        y = y.astype(np.int64)
        if not (y == 0).any():
            raise ValueError("y: expected some normal or unlabelled samples (y == 0), found "
                             "only labelled anomalies")
        if self.uses_labels and not (y == 1).any():
            warnings.warn(f"{type(self).__name__} got no labelled anomalies (y == 1): it trains "
                          "on the normal data alone", UserWarning, stacklevel=3)
        return y

    # -- public API -------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None, **fit_params: Any) -> BaseDetector:
        """Fit on ``X`` (``y``: 0 normal/unlabelled, 1 labelled anomaly); return ``self``."""
        self.check_params()
        X = self._validate_X(X, fitting=True)
        y = self._validate_y(y, len(X))
        self._fit(X, y, **fit_params)
        self.decision_scores_ = self._training_scores(X, y)
        self.threshold_ = float(np.quantile(self.decision_scores_, 1.0 - self.contamination))
        self.labels_ = (self.decision_scores_ > self.threshold_).astype(np.int64)
        return self

    def check_params(self) -> None:
        """Raise a ValueError naming a hyper-parameter value the detector rejects.

        Checks what can be checked without data (``fit`` calls it first); settings that
        depend on the data are checked in ``fit``.
        """
        if not (isinstance(self.contamination, numbers.Real) and 0.0 < self.contamination < 0.5):
            raise ValueError(f"contamination: expected a value in (0, 0.5), found "
                             f"{self.contamination}")

    def decision_function(self, X: Any) -> np.ndarray:
        """Return anomaly scores of ``X`` (higher = more anomalous)."""
        return self._score(self._validate_X(X, fitting=False))

    def predict(self, X: Any) -> np.ndarray:
        """Return 1 for samples scored above ``threshold_``, else 0."""
        return (self.decision_function(X) > self.threshold_).astype(np.int64)

    def _fit(self, X: np.ndarray, y: np.ndarray, **fit_params: Any) -> None:
        raise NotImplementedError

    def _training_scores(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Scores of the training samples (``decision_scores_``).

        Neighbour methods override this to leave each sample out of its own neighbourhood.
        """
        return self._score(X)

    def _score(self, X: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    # -- model files (torch_ae_sad.model.experiment.model_files) ----------------------------
    def _state(self) -> tuple[dict[str, Any], dict[str, nn.Module]]:
        """What a model file stores of the fitted detector (the live objects, not copies).

        Returns
        -------
        fitted : dict
            The fitted attributes (public names ending in ``_``) but the networks and the
            run-time ones (:attr:`_network_attrs`, :attr:`_runtime_attrs`).
        networks : dict
            Network attribute -> its module. The model file copies their tensors to the CPU
            and changes nothing here.
        """
        check_is_fitted(self, "threshold_")
        skip = set(self._network_attrs) | set(self._runtime_attrs)
        fitted = {name: value for name, value in vars(self).items()
                  if name.endswith("_") and not name.startswith("_") and name not in skip}
        return fitted, {name: getattr(self, name) for name in self._network_attrs}

    def _build_networks(self) -> dict[str, nn.Module]:
        """Untrained networks of :attr:`_network_attrs`, from the fitted attributes (CPU)."""
        return {}

    def _restore(self, fitted: dict[str, Any],
                 networks: dict[str, dict[str, torch.Tensor]]) -> None:
        """Make this unfitted detector the one :meth:`_state` described.

        Sets the ``fitted`` attributes, then loads each state dict of ``networks`` into the
        network :meth:`_build_networks` rebuilds from them (eval mode; built under a fixed
        seed, so loading leaves torch's global generator as it was).

        Raises
        ------
        ValueError
            When a name is not a fitted attribute's, or the networks do not match.
        """
        bad = [n for n in fitted if not (isinstance(n, str) and n.isidentifier()
                                         and n.endswith("_") and not n.startswith("_"))]
        if bad:
            raise ValueError(f"expected fitted attribute names (ending in '_'), found {bad}")
        if set(networks) != set(self._network_attrs):
            raise ValueError(f"expected the networks {sorted(self._network_attrs)} of "
                             f"{type(self).__name__}, found {sorted(networks)}")
        for name, value in fitted.items():
            setattr(self, name, value)
        with seeded(0):
            built = self._build_networks()
        for name, module in built.items():
            module.load_state_dict(networks[name])
            setattr(self, name, module.eval())


@dataclass(frozen=True)
class FitContext:
    """What the stages of one fit share; it lives only during ``fit`` (never on the detector).

    Attributes
    ----------
    X, y : np.ndarray
        The training data and labels (after ``train_on``'s selection and ``_resample``).
    X_dev, y_dev : torch.Tensor
        The same on the device.
    X_val, y_val : torch.Tensor or None
        Validation data shaped like ``X`` and its labels (1 = anomaly), on the device.
    seed : int
        The detector's ``random_state``.
    noise : torch.Generator
        Seeded (``seed + 1``) source of a loss's own randomness: denoising noise, a VAE's
        latent samples, a GAN's augmentation. A loss gets it as an argument. It lives on the
        device (the draws stay there, no copy per step), so its stream on CUDA differs from
        the CPU's; the batches do not (:meth:`TorchDetector._stage`).
    """

    X: np.ndarray
    y: np.ndarray
    X_dev: torch.Tensor
    y_dev: torch.Tensor
    X_val: torch.Tensor | None
    y_val: torch.Tensor | None
    seed: int
    noise: torch.Generator

    @property
    def device(self) -> torch.device:
        """The device of the data and the networks."""
        return self.X_dev.device

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one training sample."""
        return tuple(self.X.shape[1:])


@hyperparameters
class TorchDetector(BaseDetector):
    """A detector whose model is a torch module trained by :func:`~.training.run_stage`.

    ``fit`` runs the stages the detector declares in :meth:`_stages` (a generator: it yields
    each :class:`~torch_ae_sad.model.training.Stage`, receives its result and returns the
    fitted attributes), in order, each one trained by the package's one training loop. The
    default plan is one stage ``train`` of the module of ``_build_module(input_shape)`` on the
    per-sample loss of :meth:`_train_loss` (``_loss(module, xb, yb)``); ``_score_batch(module,
    xb)`` is the per-sample anomaly score, and ``_prepare(X, y)`` may set fit-time fitted
    attributes (e.g. loss weights). ``_check_input_range(X)`` runs on the training data before
    any module is built: there a detector resolves settings that depend on the data's range
    (e.g. ``out_activation="auto"``) and raises a ValueError for data its model cannot
    reproduce, before any training. What one stage hands the next flows through the plan's
    own variables and a :class:`FitContext` (data, seeds, the noise generator), never through
    attributes of the detector.

    Parameters
    ----------
    epochs : int
        Passes over the training data (ignored when ``n_steps`` is set).
    n_steps : int, optional
        Train for this many batches drawn at random instead (TOLL's protocol).
    batch_size : int
        Samples per step.
    lr, weight_decay : float
        Optimizer settings.
    optimizer : {"adam", "adamw", "sgd", "rmsprop"}
        The optimizer.
    lr_milestones : sequence of int
        Epochs (1-based) from which the learning rate is divided by 10 each, as Deep SAD's
        authors' ``MultiStepLR`` stepped at the start of every epoch (``--lr_milestone 50``:
        epochs 1-49 at ``lr``, from epoch 50 on at ``lr / 10``). Epoch mode only.
    eval_every : int, optional
        Evaluate on the validation data every this many steps (default: once per epoch).
    select : {"last", "best"}
        Keep the last weights, or the best ones by the validation criterion: ``val_metric``
        when the validation data has anomalies, the validation loss of the normals otherwise.
    val_metric : {"auc", "f1"}
        Validation criterion with anomalies: ROC AUC, or F1 after flagging the top-scored
        fraction equal to the validation anomaly share (TOLL's Arrhythmia protocol).
    patience : int, optional
        Stop after this many evaluations without improvement (early stopping).
    device : str, optional
        ``None`` = CUDA if present, else CPU.
    random_state : int
        Seed of the initialisation (on the CPU), the batches (drawn on the CPU, so the same
        on every device) and the loss's noise (``random_state + 1``, on the device). torch's
        global generators are seeded during ``fit`` and left as they were found.
    verbose : int
        0 silent, 1 a progress bar.
    amp : bool
        bfloat16 autocast during training, on CUDA and on the CPU (fast on CPUs with
        bfloat16 instructions). Losses whose math cancels (SSIM, a VAE's ELBO, Deep SAD's
        distances) are computed in float32 under it.
    deterministic : bool
        Deterministic kernels during fit and scoring, IEEE float32 convolutions in cuDNN
        (not TF32) and a deterministic cuBLAS workspace on CUDA; every setting restored
        after (:func:`~torch_ae_sad.utils.seeding.deterministic_mode`).
    """

    epochs: int = 10
    n_steps: int | None = None
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    lr_milestones: Sequence[int] = ()
    eval_every: int | None = None
    select: str = "last"
    val_metric: str = "auc"
    patience: int | None = None
    device: str | None = None
    random_state: int = 0
    verbose: int = 1
    amp: bool = False
    deterministic: bool = False

    _network_attrs: ClassVar[tuple[str, ...]] = ("module_",)
    _runtime_attrs: ClassVar[tuple[str, ...]] = ("device_",)

    def check_params(self) -> None:
        """Raise a ValueError naming a rejected hyper-parameter, the training settings included."""
        super().check_params()
        self._config().check()

    def _build_module(self, input_shape: tuple[int, ...]) -> nn.Module:
        raise NotImplementedError

    def _build_networks(self) -> dict[str, nn.Module]:
        """``module_`` rebuilt by ``_build_module(input_shape_)`` (a model file's weights go in).

        Detectors with other networks (or another ``module_``) override this.
        """
        return {"module_": self._build_module(tuple(self.input_shape_))}

    def _restore(self, fitted: dict[str, Any],
                 networks: dict[str, dict[str, torch.Tensor]]) -> None:
        """:meth:`BaseDetector._restore`, the detector then scoring on the CPU."""
        super()._restore(fitted, networks)
        self.device_ = torch.device("cpu")

    def _loss(self, module: nn.Module, xb: torch.Tensor, yb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _score_batch(self, module: nn.Module, xb: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def _prepare(self, X: np.ndarray, y: np.ndarray) -> None:
        """Set fit-time fitted attributes (e.g. loss weights) before training."""

    def _check_input_range(self, X: np.ndarray) -> None:
        """Check the range of the training data ``X`` before the module is built.

        Called by ``_fit`` on the data the module is trained on (after ``train_on``'s
        selection). Resolve range-dependent settings here (fitted attributes) and raise a
        ValueError that says how to scale the data when the model cannot reproduce it. The
        default accepts any range; the data scored later is not checked.
        """

    def _resample(self, X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The training set the stages see (after the range check); default ``(X, y)``."""
        return X, y

    # -- the fit lifecycle ------------------------------------------------------------------
    def _fit(self, X: np.ndarray, y: np.ndarray, X_val: Any = None, y_val: Any = None) -> None:
        """Run the stages of :meth:`_stages` in order; set the fitted attributes they return."""
        self.device_ = resolve_device(self.device)
        if self.train_on == "normal":
            X, y = X[y == 0], y[y == 0]
        self._check_input_range(X)
        ctx = self._context(*self._resample(X, y), X_val, y_val)
        # torch's global generators (CPU and the device's) seeded during the fit, whatever
        # draws from them, and left as they were found; deterministic kernels (if asked) for
        # the whole fit, the work between stages (Deep SAD's centre) included
        with seeded(ctx.seed, ctx.device), deterministic_mode(self.deterministic, ctx.device):
            fitted = run_stages(self._stages(ctx), lambda stage: self._run_stage(stage, ctx))
        for name, value in fitted.items():
            setattr(self, name, value)

    def _stages(self, ctx: FitContext) -> StagePlan[dict[str, Any]]:
        """Declare the fit's stages: yield each one, get its result; return fitted attributes.

        The default: one stage ``train`` of ``_build_module``'s network (seeded) on
        :meth:`_train_loss`; returns ``module_`` and ``history_``.
        """
        module = self._init_module(ctx)
        self._prepare(ctx.X, ctx.y)
        result = yield self._stage(ctx, "train", module, self._train_loss(ctx))
        return {"module_": module, "history_": result.history}

    def _train_loss(self, ctx: FitContext) -> LossFn:
        """The per-sample training loss ``loss(module, xb, yb)``: ``_loss`` by default.

        Detectors whose loss draws random numbers bind ``ctx.noise`` here.
        """
        return self._loss

    def _init_module(self, ctx: FitContext) -> nn.Module:
        """``_build_module(ctx.input_shape)`` initialised from ``random_state``, on the device."""
        with seeded(ctx.seed):
            return self._build_module(ctx.input_shape).to(ctx.device)

    def _context(self, X: np.ndarray, y: np.ndarray, X_val: Any = None, y_val: Any = None
                 ) -> FitContext:
        """The :class:`FitContext` of a fit on ``(X, y)`` with optional validation data."""
        val: list[torch.Tensor | None] = [None, None]
        if X_val is not None:
            Xv = self._as_array(X_val, "X_val")
            if Xv[0].size != X[0].size:
                raise ValueError(f"X_val: expected samples of shape {X.shape[1:]} like X, found "
                                 f"{Xv.shape[1:]}")
            Xv = Xv.reshape(len(Xv), *X.shape[1:])
            yv = np.zeros(len(Xv), np.int64) if y_val is None else np.asarray(y_val, np.int64)
            val = [torch.as_tensor(Xv, device=self.device_),
                   torch.as_tensor(yv, device=self.device_)]
        seed = int(self.random_state)
        return FitContext(X, y, torch.as_tensor(X, device=self.device_),
                          torch.as_tensor(y, device=self.device_), *val, seed=seed,
                          noise=make_generator(seed + 1, self.device_))

    def _config(self, **overrides: Any) -> TrainConfig:
        """The loop's settings from this detector's hyper-parameters (``overrides`` replace)."""
        settings = {
            "epochs": self.epochs, "n_steps": self.n_steps, "batch_size": self.batch_size,
            "lr": self.lr, "weight_decay": self.weight_decay, "optimizer": self.optimizer,
            "lr_milestones": tuple(self.lr_milestones), "eval_every": self.eval_every,
            "select": self.select, "patience": self.patience, "val_metric": self.val_metric,
            "amp": self.amp, "verbose": self.verbose, "desc": type(self).__name__}
        return TrainConfig(**{**settings, **overrides})

    def _stage(self, ctx: FitContext, name: str, module: nn.Module, loss: LossFn | None = None,
               *, score_fn: ScoreFn | None = None, generator: torch.Generator | None = None,
               validate: bool = True, forward: ForwardFn | None = None,
               updates: tuple[Update, ...] = (), host_labels: bool = False,
               **overrides: Any) -> Stage:
        """A :class:`~.training.Stage` with this detector's settings (``overrides`` replace).

        Defaults: ``_score_batch`` scores (the validation metric's), batches from a CPU
        generator seeded with ``random_state`` (the indices are drawn on the CPU and moved to
        the device, so the CPU and CUDA see the same batches); ``validate``: whether the fit's
        validation data applies; ``host_labels``: see :class:`~.training.Stage`.
        """
        if generator is None:
            generator = make_generator(ctx.seed)
        return Stage(name, module, loss, self._config(**overrides),
                     score_fn=self._score_batch if score_fn is None else score_fn,
                     generator=generator, validate=validate, forward=forward, updates=updates,
                     host_labels=host_labels)

    def _run_stage(self, stage: Stage, ctx: FitContext) -> StageResult:
        """Train one stage on the fit's data (inside :meth:`_fit`'s deterministic mode)."""
        val = (ctx.X_val, ctx.y_val) if stage.validate else (None, None)
        return run_stage(stage, ctx.X_dev, ctx.y_dev, *val)

    @torch.no_grad()
    def _batched(self, fn: Callable[[torch.Tensor], torch.Tensor], X: np.ndarray,
                 batch_size: int = 4096) -> torch.Tensor:
        """``fn`` over ``X`` in batches on the detector's device, in eval mode, on the CPU.

        With ``deterministic``, in :func:`~torch_ae_sad.utils.seeding.deterministic_mode`
        too: on CUDA, cuDNN's default inference kernels for convolutions are not repeatable
        (the same ConvAutoEncoder scored twice differed by 7.6e-6 on an H200).
        """
        self.module_.eval()
        out = []
        with deterministic_mode(self.deterministic, self.device_):
            for start in range(0, len(X), batch_size):
                xb = torch.as_tensor(X[start:start + batch_size], device=self.device_)
                out.append(fn(xb).float().cpu())
        return torch.cat(out)

    def _score(self, X: np.ndarray, batch_size: int = 4096) -> np.ndarray:
        scores = self._batched(lambda xb: self._score_batch(self.module_, xb), X, batch_size)
        return scores.numpy().astype(np.float64)

    def _auto_encoder(self, what: str) -> nn.Module:
        module = self.module_
        if not (callable(getattr(module, "encode", None))
                and callable(getattr(module, "decode", None))):
            raise TypeError(f"{type(self).__name__} has no auto-encoder ({what} needs a module "
                            f"with encode and decode; found {type(module).__name__})")
        return module

    def encode(self, X: Any) -> np.ndarray:
        """Latent codes of ``X``, flattened to ``(n, latent)`` (a VAE's posterior mean)."""
        module = self._auto_encoder("encode")

        def code(xb: torch.Tensor) -> torch.Tensor:
            z = module.encode(xb)
            return (z[0] if isinstance(z, tuple) else z).flatten(1)

        return self._batched(code, self._validate_X(X, fitting=False)).numpy()

    def reconstruct(self, X: Any) -> np.ndarray:
        """Reconstructions of ``X`` (decoded latent codes; a VAE decodes its posterior mean)."""
        module = self._auto_encoder("reconstruct")

        def rec(xb: torch.Tensor) -> torch.Tensor:
            z = module.encode(xb)
            return module.decode(z[0] if isinstance(z, tuple) else z)

        X = self._validate_X(X, fitting=False)
        return self._batched(rec, X).numpy().reshape(X.shape)
