"""--dry-run: the resolved spec, the space and the model's layer table; nothing started."""

from __future__ import annotations

import yaml

from search.layers import layer_table
from search.models import count_parameters
from search.preflight import build_and_check, check_user_code
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
    check_user_code(spec)  # every model the space may choose, where it is the user's code
    print(f"\n## Model {spec.model['name']!r} (base config)")
    model, example = build_and_check(spec, spec.model["name"])
    print(layer_table(model, example))
    print(f"\nNothing was started (dry run). {count_parameters(model):,} parameters.")
