"""Quick mode: smaller training runs for a slow laptop or a smoke test (`CVCOURSE_QUICK=1`).

The two long trainings of the course (Mask R-CNN in chapter 11, YOLO in chapter 12, about two to
three minutes each on a 2-core CPU) take their settings from `shapes_config()`. With the environment
variable `CVCOURSE_QUICK=1` those factories shrink the run to a few seconds: fewer scenes, one
epoch. Every cell still runs and every plot still draws, but the models are undertrained and the
numbers are lower than the ones the chapters quote. `make test` runs the learners' notebooks this
way (their solution twins run the full settings and their printed numbers are compared).
"""
from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import Any

__all__ = ["QUICK_ENV", "quick_changes", "quick_mode"]

QUICK_ENV = "CVCOURSE_QUICK"
_ON, _OFF = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


def quick_mode() -> bool:
    """Whether `CVCOURSE_QUICK` asks for quick runs.

    Returns:
        True for 1/true/yes/on, False when unset or 0/false/no/off (case-insensitive).

    Raises:
        ValueError: any other value (the message lists the accepted ones).
    """
    value = os.environ.get(QUICK_ENV, "").strip().lower()
    if value in _ON:
        return True
    if value in _OFF:
        return False
    raise ValueError(f"{QUICK_ENV}={value!r}: expected one of {_ON} (quick runs) or {_OFF} (full runs)")


def quick_changes(quick: Mapping[str, Any], changes: Mapping[str, Any], what: str) -> dict[str, Any]:
    """The config overrides to use: `changes`, on top of `quick` when quick mode is on.

    Args:
        quick: the smaller settings of quick mode (e.g. {"train_images": 800, "epochs": 1}).
        changes: the caller's own overrides; they always win.
        what: the run's name for the notice printed in quick mode ("Mask R-CNN").

    Returns:
        A new dict of overrides. In quick mode a one-line notice goes to stderr, so that a learner
        knows why the numbers differ from the chapter's.
    """
    if not quick_mode():
        return dict(changes)
    merged = {**quick, **changes}
    shown = ", ".join(f"{k}={v}" for k, v in merged.items() if k in quick)
    print(f"{QUICK_ENV} is on: a quick {what} run ({shown}); expect lower scores than the chapter quotes",
          file=sys.stderr, flush=True)
    return merged
