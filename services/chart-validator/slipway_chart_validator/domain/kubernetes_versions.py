"""Kubernetes versions as clients write them: `1.32`, `v1.32` and `1.32.4` all mean `1.32`."""

from __future__ import annotations

import re

_VERSION = re.compile(r"^v?(?P<major>\d+)\.(?P<minor>\d+)(?:\.\d+)?$")


def normalize_version(kubernetes_version: str) -> str | None:
    """The `major.minor` of a Kubernetes version; None when it is not a version at all."""
    match = _VERSION.match(kubernetes_version.strip())
    return f"{int(match['major'])}.{int(match['minor'])}" if match else None
