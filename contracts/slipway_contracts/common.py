"""Types and validators shared by several contract models."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


def matching(
    pattern: re.Pattern[str], complaint: str, max_length: int | None = None
) -> Callable[[str], str]:
    """A validator that lets through a string matching `pattern` (and no longer than
    `max_length`), and otherwise says "'<value>' <complaint>"."""

    def check(value: str) -> str:
        if (max_length is not None and len(value) > max_length) or not pattern.match(value):
            raise ValueError(f"'{value}' {complaint}")
        return value

    return check


_semver = matching(SEMVER, "is not a semantic version (MAJOR.MINOR.PATCH, e.g. 1.2.0)")
_dns_label = matching(
    DNS1123_LABEL,
    "is not a DNS-1123 label (lower-case letters, digits and '-', "
    "starting and ending with a letter or digit, at most 63 characters)",
)


SemVer = Annotated[str, AfterValidator(_semver)]
DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Revision = Annotated[int, Field(ge=1)]


class Model(BaseModel):
    """Base of the contract models: unknown fields are refused, never silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Entity(Model):
    """Fields common to every entity."""

    id: str
    created_at: datetime
    last_updated: datetime
    revision: int = Field(ge=1, description="bumped on every write; the ETag and entityversion")

    def snapshot(self) -> dict[str, Any]:
        """The JSON form of the entity, as published in events and replies."""
        return self.model_dump(mode="json")
