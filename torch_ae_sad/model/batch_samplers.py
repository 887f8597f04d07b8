"""Batch samplers a training stage may take instead of the loop's own permutations.

By default :func:`~torch_ae_sad.model.training.run_stage` draws whole permutations per epoch
(or random batches of distinct samples). A :class:`~torch_ae_sad.model.training.Stage` with a
``sampler`` draws its index batches from the sampler instead, which sees the training labels:
:class:`BalancedSampler` gives every batch a fixed share of each kind of sample, the balanced
batches of the weakly-supervised detectors (DevNet: half labelled anomalies, half unlabelled
data; PReNet: pairs of fixed kinds; FEAWAD's pre-training: unlabelled data only).

A sampler knows labels and indices only, never the model or the loss. Its batches are drawn
on the stage's CPU generator, so the CPU and CUDA train on the same batches.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class BatchSampler(Protocol):
    """What :func:`~torch_ae_sad.model.training.run_stage` asks of a stage's ``sampler``."""

    def epoch_steps(self, n: int, batch_size: int) -> int:
        """Batches in one epoch of ``n`` training samples."""
        ...

    def batches(self, y: torch.Tensor, batch_size: int, n_steps: int,
                generator: torch.Generator | None) -> Iterator[torch.Tensor]:
        """``n_steps`` index batches (CPU tensors) for training labels ``y`` (on the CPU)."""
        ...


def split_counts(shares: Sequence[float], batch_size: int) -> list[int]:
    """Rows of each kind in a batch: ``shares`` of ``batch_size``, summing to it exactly.

    Each kind gets ``floor(share * batch_size)`` rows; the rows left over go to the kinds
    with the largest remainders (ties to the earlier kind), so ``(0.5, 0.5)`` of an odd batch
    gives the first kind one more row (DevNet's authors alternate unlabelled, anomaly, ...).
    """
    exact = [s * batch_size for s in shares]
    counts = [math.floor(e + 1e-9) for e in exact]
    left = batch_size - sum(counts)
    order = sorted(range(len(shares)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in order[:left]:
        counts[i] += 1
    return counts


@dataclass(frozen=True)
class BalancedSampler:
    """Batches holding a fixed share of each kind of row, drawn with replacement.

    A kind is a tuple of labels, one per slot of a row: ``(1,)`` is a labelled anomaly,
    ``(0,)`` an unlabelled sample, ``(0, 1)`` a pair of an unlabelled sample and a labelled
    anomaly (in that order). Rows of one-slot kinds are indices, so a batch is a tensor of
    shape ``(batch,)``; rows of pairs give ``(batch, 2)`` (the loop then hands the loss
    ``X[idx]`` of shape ``(batch, 2, ...)`` and ``y[idx]`` of shape ``(batch, 2)``).

    Each slot's sample is drawn uniformly, with replacement, from the training samples of its
    label; a later slot with the same label as an earlier one of its row gets a different
    sample from it when the label has more than one sample (PReNet's authors' distinct
    pairs). The batch holds the kinds in order, ``split_counts(shares, batch_size)`` rows each.

    Parameters
    ----------
    kinds : tuple of tuple of int
        The kinds of row, all with the same number of slots (default: DevNet's
        ``((0,), (1,))``).
    shares : tuple of float
        Share of a batch for each kind, positive, summing to 1 (default ``(0.5, 0.5)``).
    steps_per_epoch : int, optional
        Batches per epoch (DevNet's and PReNet's authors: 20, their ``nb_batch``); ``None``:
        ``ceil(n / batch_size)``, one pass's worth of samples.
    """

    kinds: tuple[tuple[int, ...], ...] = ((0,), (1,))
    shares: tuple[float, ...] = (0.5, 0.5)
    steps_per_epoch: int | None = None

    def __post_init__(self) -> None:
        if not self.kinds or len(self.kinds) != len(self.shares):
            raise ValueError(f"shares: expected one share per kind ({len(self.kinds)}), found "
                             f"{len(self.shares)}")
        if len({len(k) for k in self.kinds}) != 1 or not self.kinds[0]:
            raise ValueError(f"kinds: expected kinds with the same number of slots, found "
                             f"{self.kinds}")
        if any(s <= 0 for s in self.shares) or not math.isclose(sum(self.shares), 1.0):
            raise ValueError(f"shares: expected positive shares summing to 1, found "
                             f"{self.shares}")
        if self.steps_per_epoch is not None and int(self.steps_per_epoch) < 1:
            raise ValueError(f"steps_per_epoch: expected >= 1 (or None), found "
                             f"{self.steps_per_epoch}")

    @property
    def labels(self) -> list[int]:
        """The labels the kinds draw from, sorted."""
        return sorted({label for kind in self.kinds for label in kind})

    def epoch_steps(self, n: int, batch_size: int) -> int:
        """``steps_per_epoch``, or ``ceil(n / batch_size)`` without it."""
        if self.steps_per_epoch is not None:
            return int(self.steps_per_epoch)
        return math.ceil(n / batch_size)

    def pools(self, y: torch.Tensor) -> dict[int, torch.Tensor]:
        """Label -> the indices of its samples (CPU); a ValueError for a label with none."""
        y = torch.as_tensor(y).cpu()
        pools = {label: torch.nonzero(y == label).flatten() for label in self.labels}
        missing = [label for label, idx in pools.items() if len(idx) == 0]
        if missing:
            names = {0: "unlabelled/normal (y == 0)", 1: "labelled anomalies (y == 1)"}
            raise ValueError("balanced batches: expected training samples of every label the "
                             f"batches draw from, found no {names.get(missing[0], missing[0])}")
        return pools

    def draw(self, pools: dict[int, torch.Tensor], batch_size: int,
             generator: torch.Generator | None = None) -> torch.Tensor:
        """One batch of index rows: shape ``(batch,)`` for one slot, ``(batch, slots)``."""
        blocks = [self._rows(kind, count, pools, generator)
                  for kind, count in zip(self.kinds, split_counts(self.shares, batch_size),
                                         strict=True) if count]
        rows = torch.cat(blocks)
        return rows[:, 0] if rows.shape[1] == 1 else rows

    @staticmethod
    def _rows(kind: tuple[int, ...], count: int, pools: dict[int, torch.Tensor],
              generator: torch.Generator | None) -> torch.Tensor:
        """``count`` rows of ``kind``: positions in each label's pool, then indices."""
        positions: list[torch.Tensor] = []
        for slot, label in enumerate(kind):
            size = len(pools[label])
            earlier = [p for p, lab in zip(positions, kind[:slot], strict=True) if lab == label]
            if earlier and size > 1:  # a different sample from the first of its label
                offset = torch.randint(1, size, (count,), generator=generator)
                positions.append((earlier[0] + offset) % size)
            else:
                positions.append(torch.randint(size, (count,), generator=generator))
        return torch.stack([pools[label][pos] for label, pos in zip(kind, positions,
                                                                    strict=True)], dim=1)

    def batches(self, y: torch.Tensor, batch_size: int, n_steps: int,
                generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
        """``n_steps`` balanced batches for the training labels ``y``.

        Raises
        ------
        ValueError
            When a label the kinds draw from has no training sample (before any batch).
        """
        pools = self.pools(y)
        return (self.draw(pools, batch_size, generator) for _ in range(n_steps))


#: DevNet's batches: half unlabelled data, half labelled anomalies.
DEVNET_KINDS: tuple[tuple[int, ...], ...] = ((0,), (1,))
#: PReNet's pairs: unlabelled-unlabelled, unlabelled-anomaly, anomaly-anomaly.
PAIR_KINDS: tuple[tuple[int, ...], ...] = ((0, 0), (0, 1), (1, 1))
#: PReNet's authors' shares of the pair kinds: half unlabelled pairs, a quarter of each other.
PAIR_SHARES: tuple[float, ...] = (0.5, 0.25, 0.25)

__all__ = ["DEVNET_KINDS", "PAIR_KINDS", "PAIR_SHARES", "BalancedSampler", "BatchSampler",
           "split_counts"]
