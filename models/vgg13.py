"""The report's VGG13 (Part I): five blocks of two 3x3 convolutions, then three FC layers.

As the report's `VGG_13_CNN`, with its two variants as options: `dropout1` / `dropout2`
after the first / second FC layer (`VGG_13_CNN_D` used 0.3 and 0.1), and `batch_norm`
after every convolution (not in the report; torchvision's vgg13_bn does the same).

`init: kaiming` (the default) starts the weights as torchvision's VGG does. Ten
convolutions without batch norm under PyTorch's default init (`init: pytorch`, the
report's) pass on a shrinking signal and sit at chance for the first ~40 Adam steps at
lr 1e-4: invisible in the report's 700-step epochs, but two whole epochs of a small
CPU-sized search, long enough for ASHA to stop trials that would have learned.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Literal

import torch
from search.models import Probability, register_model
from torch import nn

BLOCK_CHANNELS = (64, 128, 256, 512, 512)
FC_WIDTH = 4096
DOWNSAMPLING = 2 ** len(BLOCK_CHANNELS)  # one 2x2 max-pool per block


def conv_block(in_channels: int, out_channels: int, batch_norm: bool) -> nn.Sequential:
    layers: list[nn.Module] = []
    for channels_in in (in_channels, out_channels):
        layers.append(nn.Conv2d(channels_in, out_channels, kernel_size=3, padding=1))
        if batch_norm:
            layers.append(nn.BatchNorm2d(out_channels))
        layers.append(nn.ReLU(inplace=True))
    layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
    return nn.Sequential(*layers)


class VGG13(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, image_size: int, dropout1: float,
                 dropout2: float, batch_norm: bool, init: str):
        super().__init__()
        if image_size < DOWNSAMPLING:
            raise ValueError(f"vgg13 needs images of at least {DOWNSAMPLING} px "
                             f"(five 2x2 max-pools), got {image_size}")
        widths = (in_channels, *BLOCK_CHANNELS)
        self.conv = nn.Sequential(*(conv_block(a, b, batch_norm) for a, b in pairwise(widths)))
        # The report hard-coded 512*4 for 64 px; computing it lets 32 px (512*1) work too.
        side = image_size // DOWNSAMPLING
        self.fc = nn.Sequential(
            nn.Linear(BLOCK_CHANNELS[-1] * side * side, FC_WIDTH),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout1),
            nn.Linear(FC_WIDTH, FC_WIDTH),
            nn.ReLU(inplace=True),
            nn.Dropout(dropout2),
            nn.Linear(FC_WIDTH, num_classes),
        )
        if init not in ("kaiming", "pytorch"):
            raise ValueError(f"init must be kaiming or pytorch, got {init!r}")
        if init == "kaiming":
            kaiming_init(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, channels, size, size)
        # flatten, not the report's .view: a channels_last feature map is not contiguous.
        return self.fc(torch.flatten(self.conv(x), 1))


def kaiming_init(model: nn.Module) -> None:
    """torchvision's VGG init: He-normal convolutions, small normal FC weights, zero biases."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, 0, 0.01)
            nn.init.zeros_(module.bias)


@register_model("vgg13")
def vgg13(in_channels: int, num_classes: int, image_size: int, dropout1: Probability = 0.0,
          dropout2: Probability = 0.0, batch_norm: bool = False,
          init: Literal["kaiming", "pytorch"] = "kaiming") -> nn.Module:
    """The report's VGG13: blocks of 64-128-256-512-512 channels, then 4096-4096-classes.

    Args:
        dropout1: Dropout after the first fully connected layer (the report: 0.3).
        dropout2: Dropout after the second fully connected layer (the report: 0.1).
        batch_norm: Batch norm after each convolution.
        init: kaiming (torchvision's VGG initialisation) or pytorch (PyTorch's defaults, the report's).
    """
    return VGG13(in_channels, num_classes, image_size, dropout1, dropout2, batch_norm, init)
