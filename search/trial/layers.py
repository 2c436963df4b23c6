"""The model's layer table (layer, output shape, parameters), as the report's summaries."""

from __future__ import annotations

import torch
from torch import nn


def layer_table(model: nn.Module, example: torch.Tensor) -> str:
    rows: list[tuple[str, str, int]] = []

    def record(name: str):
        def hook(module, inputs, output):
            out = output[0] if isinstance(output, (tuple, list)) else output
            shape = list(out.shape) if isinstance(out, torch.Tensor) else "-"
            params = sum(p.numel() for p in module.parameters(recurse=False))
            rows.append((f"{type(module).__name__} ({name})", str(shape), params))
        return hook

    leaves = [(n, m) for n, m in model.named_modules() if n and not list(m.children())]
    handles = [module.register_forward_hook(record(name)) for name, module in leaves]
    try:
        model.eval()
        with torch.no_grad():
            model(example)
    finally:
        for handle in handles:
            handle.remove()
    width = max([len(r[0]) for r in rows] + [5])
    lines = [f"{'Layer':<{width}}  {'Output shape':<22}  {'Params':>12}", "-" * (width + 38)]
    lines += [f"{name:<{width}}  {shape:<22}  {params:>12,}" for name, shape, params in rows]
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    lines += ["-" * (width + 38), f"Total params: {total:,}", f"Trainable params: {trainable:,}"]
    return "\n".join(lines)
