"""Figures the reliability tests measure (payments that went through, faults survived,
inputs tried), printed together at the end of the run; the README quotes them."""

from __future__ import annotations

FIGURES: list[tuple[str, str]] = []


def report(name: str, value: object) -> None:
    """Record one figure, e.g. report("200 racing payments, wallet of 37", "37 paid, 163 ...")."""
    FIGURES.append((name, str(value)))
