"""Per-sample reconstruction measures shared by several detectors."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def squared_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-sample ``||x - x_hat||^2`` over all non-batch dimensions."""
    return (x - x_hat).flatten(1).pow(2).sum(dim=1)


def l2_error(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-sample ``||x - x_hat||_2`` (not squared)."""
    return (x - x_hat).flatten(1).norm(dim=1)


def mse(x: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """Per-sample mean squared error."""
    return (x - x_hat).flatten(1).pow(2).mean(dim=1)


def _gaussian_window(size: int, sigma: float, channels: int, like: torch.Tensor) -> torch.Tensor:
    coords = torch.arange(size, dtype=like.dtype, device=like.device) - (size - 1) / 2
    g = torch.exp(-coords.pow(2) / (2 * sigma**2))
    g = g / g.sum()
    return (g[:, None] * g[None, :]).expand(channels, 1, size, size).contiguous()


def ssim(x: torch.Tensor, y: torch.Tensor, window: int = 7, sigma: float = 1.5,
         data_range: float = 1.0) -> torch.Tensor:
    """Per-sample structural similarity (Wang et al. 2004) of ``(n, C, H, W)`` images.

    A Gaussian window of ``window`` pixels (clipped to the image size), ``K1 = 0.01``,
    ``K2 = 0.03``; the map is averaged over channels and valid positions. Computed in float32
    with autocast off: the variances ``E[x^2] - E[x]^2`` cancel catastrophically in bfloat16.
    """
    if x.dim() != 4:
        raise ValueError(f"ssim: expected images (n, C, H, W), found shape {tuple(x.shape)}")
    with torch.autocast(device_type=x.device.type, enabled=False):
        return _ssim(x.float(), y.float(), window, sigma, data_range)


def _ssim(x: torch.Tensor, y: torch.Tensor, window: int, sigma: float, data_range: float
          ) -> torch.Tensor:
    """The body of :func:`ssim` on float32 images."""
    size = min(window, x.shape[-1], x.shape[-2])
    w = _gaussian_window(size, sigma, x.shape[1], x)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2

    def blur(t: torch.Tensor) -> torch.Tensor:
        return F.conv2d(t, w, groups=x.shape[1])

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    smap = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / \
        ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    return smap.flatten(1).mean(dim=1)
