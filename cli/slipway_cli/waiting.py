"""`--wait`: follow a long operation by polling its entity until it settles or a deadline
passes. A spinner on a terminal, one plain line per change otherwise."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Collection
from typing import Annotated, Any

import typer

from slipway_cli.client import Api, Failed
from slipway_cli.output import console, note

WaitOption = Annotated[bool, typer.Option("--wait", "-w", help="follow it to its end")]
TimeoutOption = Annotated[
    float, typer.Option("--timeout", help="seconds --wait waits before giving up")
]

Settled = Callable[[dict[str, Any]], bool]


def settled_in(statuses: Collection[str]) -> Settled:
    """Settled once the entity has one of these statuses and no operation in flight."""
    return lambda entity: entity.get("status") in statuses and not entity.get("operation")


def follow(
    api: Api,
    path: str,
    settled: Settled,
    timeout_s: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Poll `path` (0.2 s, growing to 2 s between polls) until `settled`; return the entity.
    Past `timeout_s` it fails naming the last status."""
    deadline = clock() + timeout_s
    interval, seen = 0.2, None
    spinner = console(err=True).status("waiting") if sys.stderr.isatty() else None
    if spinner:
        spinner.start()
    try:
        while True:
            entity: dict[str, Any] = api.get(path)
            line = describe(entity)
            if line != seen:
                seen = line
                if spinner:
                    spinner.update(line)
                else:
                    note(line)
            if settled(entity):
                return entity
            if clock() + interval > deadline:
                raise Failed(f"gave up after {timeout_s:g} s: {line}")
            sleep(interval)
            interval = min(interval * 1.5, 2.0)
    finally:
        if spinner:
            spinner.stop()


def describe(entity: dict[str, Any]) -> str:
    name = entity.get("name", entity.get("id", "?"))
    if "tag" in entity:
        name = f"{name}:{entity['tag']}"
    words = [f"{name}: {entity.get('status')}"]
    if operation := entity.get("operation"):
        progress = operation.get("progress") or []
        words.append(f"({operation.get('action')}{': ' + progress[-1] if progress else ''})")
    if "available_replicas" in entity and "replicas" in entity:
        words.append(f"{entity.get('available_replicas') or 0}/{entity['replicas']} available")
    return " ".join(words)


def outcome(entity: dict[str, Any], good: Collection[str]) -> None:
    """Say how it ended; a bad end fails with the entity's reason (exit 1)."""
    if entity.get("status") in good:
        note(describe(entity))
        return
    reason = entity.get("reason") or "no reason given"
    raise Failed(f"{describe(entity)}: {reason}")
