"""The report's training augmentation, as one batched call on whatever device the batch is on.

The report's per-image pipeline was torchvision's

    RandomHorizontalFlip(), RandomVerticalFlip(), RandomRotation(20),
    ColorJitter(brightness=0.4, contrast=0.3, saturation=0.1)

A v2 transform called on a batch draws ONE set of random parameters for the whole batch
(every image flipped together, rotated by the same angle), which is a weaker augmentation
than the report's; calling it image by image costs dozens of small kernels per image.
So each step below is the v2 kernel's arithmetic with one parameter per image, drawn on
the batch's device; tests/test_images.py checks every step against
`torchvision.transforms.v2.functional` image by image.

The steps work on pixels in [0, 1], where the jitter's clamping and the rotation's black
fill mean what they meant in the report; `ReportAugmentation` takes normalized batches
(what the trainer holds) and returns normalized batches.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torchvision.transforms import v2


@functools.lru_cache(maxsize=None)
def per_channel(values: tuple[float, ...], device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`values` as a (1, C, 1, 1) tensor on `device`, made once per device: a tensor built
    from Python numbers on a GPU is a copy the host waits for, which at every batch would
    stall the training loop."""
    return torch.tensor(values, device=device, dtype=dtype).view(1, -1, 1, 1)


def flip_where(images: torch.Tensor, chosen: torch.Tensor, dim: int) -> torch.Tensor:
    """Mirror the chosen images (a bool per image) along `dim` (-1 horizontal, -2 vertical)."""
    return torch.where(chosen.view(-1, 1, 1, 1), images.flip(dim), images)


def rotate(images: torch.Tensor, degrees: torch.Tensor) -> torch.Tensor:
    """Rotate each image about its centre, counter-clockwise, as v2.functional.rotate:
    nearest pixel, same size, black where the rotated image does not reach."""
    height, width = images.shape[-2:]
    angle = torch.deg2rad(degrees.to(images.dtype))
    cos, sin = torch.cos(angle), torch.sin(angle)
    zero = torch.zeros_like(cos)
    # Per image, the inverse map from output to input pixels, in pixels about the centre
    # (torchvision's _get_inverse_affine_matrix for a pure rotation).
    theta = torch.stack([torch.stack([cos, -sin, zero], -1), torch.stack([sin, cos, zero], -1)], 1)
    # torchvision's _affine_grid: pixel-centre coordinates, scaled to grid_sample's [-1, 1].
    xs = torch.linspace((1 - width) / 2, (width - 1) / 2, width, device=images.device, dtype=images.dtype)
    ys = torch.linspace((1 - height) / 2, (height - 1) / 2, height, device=images.device, dtype=images.dtype)
    base = torch.stack([xs.expand(height, width), ys[:, None].expand(height, width),
                        torch.ones(height, width, device=images.device, dtype=images.dtype)], -1)
    grid = base.view(1, -1, 3) @ theta.transpose(1, 2)
    # Divided by Python numbers, not a tensor made on the device (a host wait per batch).
    grid = torch.stack([grid[..., 0] / (width / 2), grid[..., 1] / (height / 2)], dim=-1)
    return F.grid_sample(images, grid.view(-1, height, width, 2), mode="nearest",
                         padding_mode="zeros", align_corners=False)


def blend(images: torch.Tensor, other: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    """factor * images + (1 - factor) * other, clamped to [0, 1] (v2's _blend, per image)."""
    factor = factor.view(-1, 1, 1, 1).to(images.dtype)
    return (factor * images + (1 - factor) * other).clamp(0, 1)


def adjust_brightness(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return blend(images, torch.zeros_like(images), factor)


def adjust_contrast(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    grey_mean = v2.functional.rgb_to_grayscale(images).mean(dim=(-3, -2, -1), keepdim=True)
    return blend(images, grey_mean, factor)


def adjust_saturation(images: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
    return blend(images, v2.functional.rgb_to_grayscale(images), factor)


class ReportAugmentation:
    """The report's augmentation for normalized training batches, drawn per image."""

    def __init__(self, mean: Sequence[float], std: Sequence[float], max_degrees: float = 20.0,
                 brightness: float = 0.4, contrast: float = 0.3, saturation: float = 0.1):
        self.mean, self.std = tuple(mean), tuple(std)
        self.max_degrees = max_degrees
        self.jitter = ((adjust_brightness, brightness), (adjust_contrast, contrast),
                       (adjust_saturation, saturation))

    def __call__(self, batch: torch.Tensor) -> torch.Tensor:
        mean = per_channel(self.mean, batch.device, batch.dtype)
        std = per_channel(self.std, batch.device, batch.dtype)
        images = batch * std + mean  # back to [0, 1] pixels
        images = self.augment(images)
        # The trainer hands over channels_last batches; grid_sample may give them back contiguous.
        layout = torch.channels_last if batch.is_contiguous(memory_format=torch.channels_last) \
            else torch.contiguous_format
        return ((images - mean) / std).contiguous(memory_format=layout)

    def augment(self, images: torch.Tensor) -> torch.Tensor:
        count, device = images.shape[0], images.device

        def uniform(low: float, high: float) -> torch.Tensor:
            return torch.empty(count, device=device).uniform_(low, high)

        images = flip_where(images, torch.rand(count, device=device) < 0.5, dim=-1)
        images = flip_where(images, torch.rand(count, device=device) < 0.5, dim=-2)
        images = rotate(images, uniform(-self.max_degrees, self.max_degrees))
        # ColorJitter applies its adjustments in a random order; here one order per batch.
        for index in torch.randperm(len(self.jitter)).tolist():
            adjust, strength = self.jitter[index]
            images = adjust(images, uniform(max(0.0, 1 - strength), 1 + strength))
        return images

    def __repr__(self) -> str:
        jitter = ", ".join(f"{fn.__name__.removeprefix('adjust_')}={s}" for fn, s in self.jitter)
        return (f"ReportAugmentation(hflip, vflip, rotation<={self.max_degrees} deg, {jitter}; "
                "per image)")

