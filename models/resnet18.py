"""The report's ResNet18 variant (Part II), layer for layer as its summary table.

It differs from torchvision's resnet18 where the report's does: a 3x3 stride-1 first
convolution (small images keep their resolution), convolutions with biases, and an
optional dropout after the first convolution's ReLU (`conv1_dropout`; the report
used 0.2). With 3 classes it has the table's 11,175,171 parameters.
"""

from __future__ import annotations

import torch
from search.models import Probability, register_model
from torch import nn

STAGE_CHANNELS = (64, 128, 256, 512)
BLOCKS_PER_STAGE = (2, 2, 2, 2)


class ResidualBlock(nn.Module):
    """Two 3x3 convolutions and a skip connection (a 1x1 projection where the shape changes)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1),
            nn.BatchNorm2d(out_channels),
            nn.ReLU(inplace=True),
        )
        self.conv2 = nn.Sequential(
            nn.Conv2d(out_channels, out_channels, kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(out_channels),
        )
        reshapes = stride != 1 or in_channels != out_channels
        # None rather than nn.Identity, so the layer table lists the report's layers only.
        self.downsample = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride),
            nn.BatchNorm2d(out_channels),
        ) if reshapes else None
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))  # first, as the report: its layer table lists these first
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


def make_stage(in_channels: int, out_channels: int, blocks: int, stride: int) -> nn.Sequential:
    first = ResidualBlock(in_channels, out_channels, stride)
    rest = (ResidualBlock(out_channels, out_channels, 1) for _ in range(blocks - 1))
    return nn.Sequential(first, *rest)


class ResNet18(nn.Module):
    def __init__(self, in_channels: int, num_classes: int, conv1_dropout: float):
        super().__init__()
        self.conv1 = nn.Sequential(
            nn.Conv2d(in_channels, STAGE_CHANNELS[0], kernel_size=3, stride=1, padding=1),
            nn.BatchNorm2d(STAGE_CHANNELS[0]),
            nn.ReLU(inplace=True),
            nn.Dropout(conv1_dropout),  # identity at 0; the report's "Dropout Applied" at 0.2
        )
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        widths = (STAGE_CHANNELS[0], *STAGE_CHANNELS)
        self.stages = nn.Sequential(*(
            make_stage(widths[i], widths[i + 1], blocks, stride=1 if i == 0 else 2)
            for i, blocks in enumerate(BLOCKS_PER_STAGE)
        ))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(STAGE_CHANNELS[-1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # x: (batch, channels, height, width)
        x = self.stages(self.maxpool(self.conv1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


@register_model("resnet18")
def resnet18(in_channels: int, num_classes: int, conv1_dropout: Probability = 0.0) -> nn.Module:
    """The report's ResNet18 variant: a 3x3 stride-1 first convolution, BasicBlocks [2, 2, 2, 2].

    Args:
        conv1_dropout: Dropout after the first convolution (the report: 0.2).
    """
    return ResNet18(in_channels, num_classes, conv1_dropout)
