"""--dry-run: the resolved spec, the space and the model's layer table; nothing started."""

from __future__ import annotations

import yaml

from search.data import get_task
from search.layers import layer_table
from search.models import count_parameters, create_model
from search.spec import Spec


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
    print(f"\n## Model {spec.model['name']!r} (base config)")
    task = get_task(spec.task)
    options = task.Options(**spec.data)
    model_options = {k: v for k, v in spec.model.items() if k != "name"}
    model = create_model(spec.model["name"], model_options, task.model_inputs(options))
    print(layer_table(model, task.example_input(options)))
    print(f"\nNothing was started (dry run). {count_parameters(model):,} parameters.")
