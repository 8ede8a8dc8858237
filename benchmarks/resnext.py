"""ResNeXt-50 (32x4d) in plain torch, random weights, for speed measurements of grouped
convolutions (benchmarks/placement_speed.py); the zoo has no grouped-convolution model."""

from __future__ import annotations

import torch
from torch import nn


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, cout: int, stride: int, groups: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, width, 3, stride, 1, groups=groups, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        )
        same = stride == 1 and cin == cout
        self.skip = (
            nn.Identity()
            if same
            else nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.body(x) + self.skip(x))


def resnext50(groups: int = 32, width_per_group: int = 4, seed: int = 0) -> nn.Module:
    """Stages of 3, 4, 6, 3 bottlenecks; group widths 4, 8, 16, 32 channels (32x4d)."""
    torch.manual_seed(seed)
    layers: list[nn.Module] = [
        nn.Conv2d(3, 64, 7, 2, 3, bias=False),
        nn.BatchNorm2d(64),
        nn.ReLU(),
        nn.MaxPool2d(3, 2, 1),
    ]
    cin = 64
    for stage, blocks in enumerate((3, 4, 6, 3)):
        width, cout = groups * width_per_group * 2**stage, 256 * 2**stage
        for b in range(blocks):
            layers.append(Bottleneck(cin, width, cout, 2 if b == 0 and stage > 0 else 1, groups))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(cin, 1000)]
    model = nn.Sequential(*layers).eval()
    for m in model.modules():  # trained-like statistics, so activations keep a sane scale
        if isinstance(m, nn.BatchNorm2d):
            m.running_var.uniform_(0.5, 2.0)
            m.running_mean.uniform_(-0.1, 0.1)
    return model
