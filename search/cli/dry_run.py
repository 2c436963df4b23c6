"""--dry-run: the resolved spec, the space and the model's layer table; nothing started."""

from __future__ import annotations

import yaml

from search.data import get_task
from search.models import count_parameters
from search.space.spec import Spec
from search.space.variants import describe_trial_epochs
from search.trial.layers import layer_table
from search.trial.preflight import build_and_check, check_user_code


def print_dry_run(spec: Spec) -> None:
    print(f"# {spec.source}: valid\n")
    print("## Resolved spec")
    print(yaml.safe_dump(spec.model_dump(), sort_keys=False, default_flow_style=None).rstrip())
    print("\n## Space")
    if spec.space:
        width = max(len(k) for k in spec.space)
        for key, dist in spec.space.items():
            print(f"  {key:<{width}}  {dist.describe()}")
    else:
        print("  (empty: every trial runs the base config)")
    print(f"\n## Size\n  {describe_trial_epochs(spec)}")
    check_user_code(spec)  # every model the space may choose, where it is the user's code
    print(f"\n## Model {spec.model['name']!r} (base config)")
    model, example = build_and_check(spec, spec.model["name"])
    print(layer_table(model, example))
    print(f"\nNothing was started (dry run). {count_parameters(model):,} parameters.")
    print_gpu_memory_fit(spec)


# Headroom over the measured peak: the allocator's reserve moves a little between steps and
# epochs (fragmentation, the last smaller batch), and a trial past its share fails.
MEMORY_HEADROOM = 1.2


def print_gpu_memory_fit(spec: Spec) -> None:
    """On a machine with a CUDA GPU: one training step and one evaluation batch of the base
    config on the real data, the peak memory that took, and how many such trials fit on
    this GPU, i.e. the smallest `search.resources.gpu` share that is safe."""
    import torch

    if not torch.cuda.is_available():
        print("\nGPU memory per trial: not measured (no CUDA GPU on this machine).")
        return
    from search.trial.gpu_memory import GIB, process_gpu_memory
    from search.trial.training import EVAL_BATCH, Trial

    task = get_task(spec.task)
    options = task.Options(**spec.data)
    print(f"\n## GPU memory per trial (base config, batch {spec.train.batch_size}, on {torch.cuda.get_device_name()})")
    splits = task.splits(task.load(options), options)
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    trial = Trial(task, splits, spec.base_config(), gpu_share=1.0)
    rows = torch.arange(min(spec.train.batch_size, len(splits.train[1])), device=trial.data.device)
    for _ in range(2):  # the first step creates the optimizer's state, the second runs as all others
        trial.train_batch(rows)
    trial.predict(trial.data["val"][0][:EVAL_BATCH])
    torch.cuda.synchronize()
    peak = torch.cuda.max_memory_reserved()
    # The CUDA context and libraries sit outside the allocator (and outside the share).
    context = max(0, (process_gpu_memory() or peak) - torch.cuda.memory_reserved())
    total = torch.cuda.get_device_properties(0).total_memory
    per_trial = peak * MEMORY_HEADROOM + context
    fit = max(1, int(total // per_trial))
    print(f"  peak allocator memory: {peak / GIB:.2f} GiB (one step, one evaluation batch of {EVAL_BATCH}, "
          f"data on the GPU: {trial.data.on_device}); CUDA context: {context / GIB:.2f} GiB")
    if per_trial > total:
        print(f"  does not fit on this GPU ({total / GIB:.1f} GiB) with {MEMORY_HEADROOM - 1:.0%} headroom")
        return
    print(f"  {fit} such trials fit on this GPU ({total / GIB:.1f} GiB, {MEMORY_HEADROOM - 1:.0%} headroom): "
          f"the smallest safe share is gpu: {1 / fit:.4g} (your space: {spec.search.resources.gpu:g})")
