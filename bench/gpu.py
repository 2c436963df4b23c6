"""GPU figures: fractional GPUs and mixed precision, for the image networks at 64 px.

    python bench/gpu.py

1. Four trials at `gpu: 0.25` against one at `gpu: 1`: aggregate training images per
   second of four processes sharing the GPU against one process alone on it, each
   running the platform's own training loop on the base config of spaces/resnet18.yaml
   and spaces/vgg13_regularization.yaml at 64 px (gpu_fraction_ratio_<model>).
2. Mixed precision: images per second with `train.precision: bf16` (autocast) against
   fp32, one process on the whole GPU (bf16_speedup_<model>).

Without a CUDA GPU nothing is measured: the script says so, records that in
bench/results.json (gpu: none, measured: false) and exits 0.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parallel import samples_per_second  # noqa: E402
from results import record  # noqa: E402

SPACES = {"resnet18": "spaces/resnet18.yaml", "vgg13": "spaces/vgg13_regularization.yaml"}
# The report's setting: 64 px, every built-in image of the three classes.
FULL_SIZE = ["data.image_size=64", "data.limit_per_class=null"]
EPOCHS = 2


def main() -> int:
    import torch

    if not torch.cuda.is_available():
        print("no CUDA GPU on this machine: fractional-GPU and mixed-precision figures not measured")
        record("gpu", {"gpu": "none", "measured": False})
        return 0
    figures: dict = {"gpu": torch.cuda.get_device_name(0), "measured": True}
    for model, space in SPACES.items():
        four = samples_per_second(space, EPOCHS, processes=4, threads=1, gpu_share=0.25,
                                  overrides=FULL_SIZE)
        one = samples_per_second(space, EPOCHS, processes=1, threads=1, gpu_share=1.0,
                                 overrides=FULL_SIZE)
        bf16 = samples_per_second(space, EPOCHS, processes=1, threads=1, gpu_share=1.0,
                                  overrides=[*FULL_SIZE, "train.precision=bf16"])
        figures[model] = {"four_quarter_gpu_trials": round(four), "one_full_gpu_trial": round(one),
                          "one_full_gpu_trial_bf16": round(bf16)}
        figures[f"gpu_fraction_ratio_{model}"] = round(four / one, 3)
        figures[f"bf16_speedup_{model}"] = round(bf16 / one, 3)
        print(model, json.dumps(figures[model]), flush=True)
    record("gpu", figures)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
