"""Reading a parsed /metrics answer in tests."""

from __future__ import annotations


def sample(families: dict, name: str, labels: dict[str, str] | None = None) -> float:
    """The value of the sample `name` with exactly these labels (0 when absent, as Prometheus's counters start).

    `families` maps a family name to what `text_string_to_metric_families` parsed; a counter's family is
    named without its `_total` suffix.
    """
    family = families.get(name) or families.get(name.removesuffix("_total"))
    if family is None:
        return 0.0
    wanted = labels or {}
    for found in family.samples:
        if found.name == name and found.labels == wanted:
            return found.value
    return 0.0
