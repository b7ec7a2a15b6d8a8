"""Printing answers: `-o table` (rich, the default), `-o json` or `-o yaml` (whole entities)."""

from __future__ import annotations

import io
import json
import sys
from collections.abc import Sequence
from enum import StrEnum
from typing import Annotated, Any

import typer
import yaml
from rich.console import Console
from rich.table import Table


class Format(StrEnum):
    table = "table"
    json = "json"
    yaml = "yaml"


OutputOption = Annotated[
    Format, typer.Option("--output", "-o", help="table, json or yaml", case_sensitive=False)
]

# A table's columns: (heading, field); a dotted field reads into nested objects.
Columns = Sequence[tuple[str, str]]


def console(err: bool = False) -> Console:
    """A console that does not wrap lines when it writes to a pipe or a file."""
    stream = sys.stderr if err else sys.stdout
    terminal = stream.isatty()
    return Console(file=stream, width=None if terminal else 240, soft_wrap=not terminal)


def cell(item: dict[str, Any], field: str) -> str:
    value: Any = item
    for part in field.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    if value is None:
        return ""
    if isinstance(value, dict | list):
        return json.dumps(value)
    return str(value)


def table(items: Sequence[dict[str, Any]], columns: Columns) -> Table:
    grid = Table(box=None, header_style="bold", pad_edge=False)
    for heading, _ in columns:
        grid.add_column(heading.upper(), overflow="fold")
    for item in items:
        grid.add_row(*(cell(item, field) for _, field in columns))
    return grid


def fields(item: dict[str, Any]) -> Table:
    grid = Table(box=None, show_header=False, pad_edge=False)
    grid.add_column(style="bold")
    grid.add_column(overflow="fold")
    for key, value in item.items():
        grid.add_row(key, cell(item, key) if not isinstance(value, str) else value)
    return grid


def render(data: Any, fmt: Format, columns: Columns | None = None) -> str:
    """The text of `data` (an entity, or a list of them) in `fmt`."""
    if fmt is Format.json:
        return json.dumps(data, indent=2)
    if fmt is Format.yaml:
        return yaml.safe_dump(data, sort_keys=False).rstrip("\n")
    text = io.StringIO()
    out = Console(file=text, width=240, soft_wrap=True)
    out.print(table(data, columns or [("id", "id")]) if isinstance(data, list) else fields(data))
    return text.getvalue().rstrip("\n")


def show(data: Any, fmt: Format, columns: Columns | None = None) -> None:
    """Print `data` on stdout; a table through rich so a terminal gets its styles."""
    if fmt is not Format.table:
        typer.echo(render(data, fmt, columns))
    elif isinstance(data, list):
        console().print(table(data, columns or [("id", "id")]))
    else:
        console().print(fields(data))


def note(message: str) -> None:
    """A line for the person (progress, outcomes) on stderr, so stdout stays parseable."""
    typer.echo(message, err=True)
