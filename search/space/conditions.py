"""Conditional dimensions: `when:` on a space entry, a dimension that exists only under a choice.

    train.momentum: {uniform: [0.5, 0.99], when: {train.optimizer: [sgd, rmsprop]}}

A dimension is active in a trial when every key of its `when` holds one of the listed
values and that key is itself active (conditions chain). An inactive dimension is not
sampled: the trial trains with the base config's value, its run logs no value for it.

Pure Python over the spec's Distribution objects (anything with `.kind`, `.args` and
`.when`), so the spec's validation uses it before Ray or Optuna is imported. The
searchers' side (Optuna's define-by-run space, the variant lists of random and grid
search) is in search/space/domains.py.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator, Mapping

ENUMERABLE = ("choice", "grid")  # the kinds a condition may name: a finite set of values


def same_value(a: Any, b: Any) -> bool:
    """Equal as config values: 64 and 64.0 are, True and 1 are not (YAML tells them apart)."""
    return isinstance(a, bool) == isinstance(b, bool) and a == b


def holds(allowed: list, value: Any) -> bool:
    return any(same_value(value, choice) for choice in allowed)


def is_conditional(space: Mapping) -> bool:
    return any(dist.when for dist in space.values())


def describe_when(when: Mapping[str, list]) -> str:
    """"train.optimizer in ['sgd', 'rmsprop']": a dimension's conditions in words."""
    return " and ".join(f"{target} in {list(allowed)}" for target, allowed in when.items())


def condition_error(space: Mapping) -> str | None:
    """What is wrong with the space's conditions, in one line naming the key; None when nothing is."""
    for key, dist in space.items():
        for target, allowed in (dist.when or {}).items():
            where = f"space.{key}.when"
            if target == key:
                return f"{where}: {key} cannot depend on itself"
            if target not in space:
                return (f"{where}: {target} is not a dimension of this space (a condition names a choice "
                        f"dimension of the same space: {', '.join(_enumerable(space)) or 'there is none'})")
            kind = space[target].kind
            if kind not in ENUMERABLE:
                return (f"{where}: {target} is a {kind} dimension; a condition names a choice (or grid) "
                        f"dimension, whose values it can list")
            for value in allowed:
                if not holds(space[target].args, value):
                    return (f"{where}.{target}: {value!r} is not among its choices "
                            f"{list(space[target].args)!r}")
    cycle = find_cycle(space)
    if cycle:
        return f"space.{cycle[0]}.when: conditions form a cycle: {' -> '.join(cycle)}"
    return None


def _enumerable(space: Mapping) -> list[str]:
    return [key for key, dist in space.items() if dist.kind in ENUMERABLE]


def find_cycle(space: Mapping) -> list[str] | None:
    """A chain of conditions that comes back to where it started (a -> b -> a), or None."""
    state: dict[str, str] = {}  # key -> "open" while its conditions are followed, "done" after

    def follow(key: str, path: list[str]) -> list[str] | None:
        if state.get(key) == "open":
            return path[path.index(key):] + [key]
        if state.get(key) == "done" or key not in space:
            return None
        state[key] = "open"
        for target in space[key].when or {}:
            found = follow(target, path + [key])
            if found:
                return found
        state[key] = "done"
        return None

    for key in space:
        found = follow(key, [])
        if found:
            return found
    return None


def dependency_order(space: Mapping, preferred: list[str] | None = None) -> list[str]:
    """The space's keys, each after the keys its conditions name, otherwise in `preferred`
    order (the space's own by default). The spec refused cycles before this is asked."""
    remaining = list(preferred or space)
    placed: list[str] = []
    while remaining:
        key = next(k for k in remaining if all(t in placed for t in space[k].when or {}))
        placed.append(key)
        remaining.remove(key)
    return placed


def is_active(space: Mapping, key: str, values: Mapping[str, Any]) -> bool:
    """Whether `key` is searched in a trial whose searched keys have `values` (dotted keys)."""
    for target, allowed in (space[key].when or {}).items():
        if target not in values or not holds(allowed, values[target]) or not is_active(space, target, values):
            return False
    return True


def inactive_keys(space: Mapping, values: Mapping[str, Any]) -> set[str]:
    """The space's keys a trial with these values (dotted keys, its whole config) did not search."""
    return {key for key in space if not is_active(space, key, values)}


def activating_values(space: Mapping, key: str) -> dict[str, Any]:
    """Values of the keys `key`'s conditions name (and theirs, down the chain) under which it is
    active: the first listed value of each. The spec checks a conditional dimension's values there."""
    found: dict[str, Any] = {}
    for target, allowed in (space[key].when or {}).items():
        found.update(activating_values(space, target))
        found[target] = allowed[0]
    return found


def variants(space: Mapping, enumerated: set[str], draw: Callable[[str], Any],
             preferred: list[str] | None = None) -> Iterator[dict[str, Any]]:
    """The configurations (dotted searched keys) one pass over the space makes: every active
    combination of the `enumerated` keys, each with its own `draw` of the other active keys.

    Grid search enumerates every key; random search enumerates its grid dimensions and draws
    the rest, a draw per combination, as Ray Tune's variant generator does for a space without
    conditions. An inactive key is left out, so no combination repeats over values a trial
    would not use.
    """
    keys = dependency_order(space, preferred)

    def walk(index: int, values: dict[str, Any]) -> Iterator[dict[str, Any]]:
        if index == len(keys):
            yield dict(values)
            return
        key = keys[index]
        if not is_active(space, key, values):
            yield from walk(index + 1, values)
        elif key in enumerated:
            for value in space[key].args:
                yield from walk(index + 1, {**values, key: value})
        else:
            yield from walk(index + 1, {**values, key: draw(key)})

    return walk(0, {})


def count_grid(space: Mapping) -> int:
    """How many active combinations a grid over every key of the space has, without listing
    them: only a key that another key's condition names needs its values tried one by one."""
    keys = dependency_order(space)
    named = {target for dist in space.values() for target in dist.when or {}}

    def count(index: int, values: dict[str, Any]) -> int:
        if index == len(keys):
            return 1
        key = keys[index]
        if not is_active(space, key, values):
            return count(index + 1, values)
        if key not in named:
            return len(space[key].args) * count(index + 1, values)
        return sum(count(index + 1, {**values, key: value}) for value in space[key].args)

    return count(0, {})
