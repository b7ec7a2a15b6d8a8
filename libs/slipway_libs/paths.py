"""Confining user-supplied paths to configured roots (no traversal, no symlink escapes)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from slipway_libs.errors import InvalidInput


def resolve_inside_roots(raw: str, roots: Sequence[Path], field: str) -> Path:
    """`raw` resolved (symlinks followed): a directory inside one of `roots`, else InvalidInput
    naming `field`. A relative `raw` is in the first root that has it (none: the first root)."""
    if not roots:
        raise InvalidInput.field(field, "no roots are configured on the server")
    if "\x00" in raw:
        raise InvalidInput.field(field, "must not contain NUL bytes")
    resolved_roots = [root.resolve() for root in roots]
    candidate = Path(raw)
    try:
        if not candidate.is_absolute():
            found = [root / candidate for root in resolved_roots if (root / candidate).exists()]
            candidate = found[0] if found else resolved_roots[0] / candidate
        target = candidate.resolve()
    except OSError as exc:  # a name too long for the file system
        raise InvalidInput.field(field, f"is not a usable path: {exc.strerror}") from exc
    allowed = ", ".join(str(r) for r in resolved_roots)
    if not any(target == root or target.is_relative_to(root) for root in resolved_roots):
        raise InvalidInput.field(
            field, f"'{raw}' resolves to {target}, outside the allowed roots ({allowed})"
        )
    if not target.is_dir():
        raise InvalidInput.field(field, f"'{raw}' is not a directory")
    return target


def resolve_inside(base: Path, raw: str, field: str) -> Path:
    """Resolve `raw` relative to `base` and require the result to stay inside `base`."""
    target = (base / raw).resolve()
    if not target.is_relative_to(base.resolve()):
        raise InvalidInput.field(field, f"'{raw}' leaves its directory")
    return target
