"""Helpers for exercises whose answer is an `nn.Module` (chapters 03-05): build the learner's module
with a fixed seed, and run groups of cases that share one measurement."""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import nn

from ._core import FAILED, NOT_ATTEMPTED, PASSED, Case, run_cases

Group = tuple[Callable[..., Any], list[Case]]   # (measure(module, config, *inputs), cases)


def build_module(make: Callable[..., Any], args: Sequence[Any], seed: int, where: str) -> nn.Module:
    """`make(*args)` with the torch seed fixed (the caller's random state is left untouched); the
    result must be an `nn.Module` (`where` names the configuration in the error)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        module = make(*args)
    if not isinstance(module, nn.Module):
        raise TypeError(f"{where} returned {type(module).__name__}; expected an nn.Module "
                        f"(a class derived from nn.Module, or a function that returns one)")
    return module


def run_groups(fn: Callable[..., Any], groups: list[Group], build: Callable[[Callable[..., Any], Any], nn.Module],
               stub_problem: str = "raised NotImplementedError") -> tuple[str, int, int, str]:
    """`run_cases` on each group: a case's first argument is a configuration, the module is
    `build(fn, config)` and the measured value `measure(module, config, *other arguments)`. A stub in
    the first group means "not attempted"; later, `stub_problem` explains the failure. The first
    failure is reported."""
    total = sum(len(cases) for _, cases in groups)
    passed, message = 0, ""
    for k, (measure, cases) in enumerate(groups):
        def probe(config: Any, *inputs: Any, measure: Callable[..., Any] = measure) -> Any:
            return measure(build(fn, config), config, *inputs)

        status, ok, _, first = run_cases(probe, cases)
        if status == NOT_ATTEMPTED:
            if k == 0:
                return NOT_ATTEMPTED, 0, total, first
            first = f"case: {cases[0].description}\nproblem: {stub_problem}"
        passed += ok
        message = message or first
    return (PASSED if passed == total else FAILED), passed, total, message
