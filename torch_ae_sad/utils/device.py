"""Choice of the torch device."""

from __future__ import annotations

import torch


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """Return the device to train on.

    Parameters
    ----------
    device : str, torch.device or None
        ``None`` (or ``"auto"``) picks CUDA when it is available and the CPU otherwise.

    Returns
    -------
    torch.device
    """
    if device is None or (isinstance(device, str) and device == "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device={str(device)!r} was asked for, but CUDA is not available here; "
                         "use device=None (auto) or 'cpu'")
    return dev
