"""Object metadata helpers: timestamps, names, label and field selectors."""

from __future__ import annotations

import contextlib
import json
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml

from slipway_simcluster.errors import bad_request

_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(
    r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
)
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# Kubernetes' random suffix alphabet leaves out vowels and look-alike digits.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now_rfc3339(at: float | None = None) -> str:
    """A Kubernetes `Time` (second precision, UTC), e.g. `2025-01-31T12:00:00Z`."""
    moment = datetime.fromtimestamp(time.time() if at is None else at, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str | None) -> float | None:
    """Parse a Kubernetes `Time`/`MicroTime` into a Unix timestamp (None if absent or bad)."""
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def human_age(created: str | None, now: float | None = None) -> str:
    """An age as kubectl prints it: `45s`, `12m`, `3h`, `2d`."""
    started = parse_time(created)
    if started is None:
        return "<unknown>"
    seconds = max(0, int((time.time() if now is None else now) - started))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 3600 * 2:
        return f"{seconds // 60}m"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}h"
    return f"{seconds // 86400}d"


def random_suffix(length: int = 5) -> str:
    """A random name suffix in Kubernetes' alphabet (as in `generateName`)."""
    return "".join(secrets.choice(_SUFFIX_ALPHABET) for _ in range(length))


def stable_suffix(digest: bytes, length: int = 10) -> str:
    """A deterministic name suffix derived from a digest (as in `pod-template-hash`)."""
    return "".join(_SUFFIX_ALPHABET[b % len(_SUFFIX_ALPHABET)] for b in digest[:length])


def is_dns1123_label(name: str) -> bool:
    """True if `name` is a valid RFC 1123 label (namespaces, container names)."""
    return len(name) <= 63 and bool(_DNS1123_LABEL.match(name))


def is_dns1123_subdomain(name: str) -> bool:
    """True if `name` is a valid RFC 1123 subdomain (most object names)."""
    return len(name) <= 253 and bool(_DNS1123_SUBDOMAIN.match(name))


def is_dns1035_label(name: str) -> bool:
    """True if `name` is a valid RFC 1035 label (service names)."""
    return len(name) <= 63 and bool(_DNS1035_LABEL.match(name))


def lookup(obj: Any, dotted: str) -> Any:
    """Follow a dotted path (`status.phase`) through nested dicts; None when absent."""
    current = obj
    for part in dotted.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current


@dataclass(frozen=True)
class Requirement:
    """One label-selector requirement: `key op values`."""

    key: str
    operator: str  # "=", "!=", "in", "notin", "exists", "!"
    values: tuple[str, ...] = ()

    def matches(self, labels: dict[str, str]) -> bool:
        """True if the labels satisfy this requirement."""
        present = self.key in labels
        value = labels.get(self.key)
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        if self.operator == "exists":
            return present
        return not present  # "!"


class LabelSelector:
    """A parsed label selector; the string form is kubectl's (`app=web,tier in (a,b),!debug`)."""

    def __init__(self, requirements: list[Requirement]) -> None:
        self.requirements = requirements

    @classmethod
    def parse(cls, text: str | None) -> LabelSelector:
        """Parse the `labelSelector` query parameter (400 BadRequest if malformed)."""
        requirements: list[Requirement] = []
        for clause in _split_top_level(text or ""):
            requirements.append(_parse_label_clause(clause))
        return cls(requirements)

    @classmethod
    def from_object(cls, selector: dict[str, Any] | None) -> LabelSelector:
        """Build from a `metav1.LabelSelector` (`matchLabels` and `matchExpressions`)."""
        requirements: list[Requirement] = []
        selector = selector or {}
        for key, value in sorted((selector.get("matchLabels") or {}).items()):
            requirements.append(Requirement(key, "=", (str(value),)))
        for expression in selector.get("matchExpressions") or []:
            operator = str(expression.get("operator", ""))
            values = tuple(str(v) for v in expression.get("values") or [])
            key = str(expression.get("key", ""))
            mapped = {"In": "in", "NotIn": "notin", "Exists": "exists", "DoesNotExist": "!"}
            requirements.append(Requirement(key, mapped.get(operator, operator), values))
        return cls(requirements)

    @property
    def empty(self) -> bool:
        """An empty selector matches everything."""
        return not self.requirements

    def matches(self, labels: dict[str, str] | None) -> bool:
        """True if every requirement holds for the labels."""
        labels = labels or {}
        return all(requirement.matches(labels) for requirement in self.requirements)

    def __str__(self) -> str:
        parts = []
        for r in self.requirements:
            if r.operator == "=":
                parts.append(f"{r.key}={r.values[0]}")
            elif r.operator == "!=":
                parts.append(f"{r.key}!={r.values[0]}")
            elif r.operator in ("in", "notin"):
                parts.append(f"{r.key} {r.operator} ({','.join(r.values)})")
            elif r.operator == "exists":
                parts.append(r.key)
            else:
                parts.append(f"!{r.key}")
        return ",".join(parts)


def _split_top_level(text: str) -> list[str]:
    """Split on commas that are not inside `( … )`."""
    clauses: list[str] = []
    current: list[str] = []
    depth = 0
    for char in text:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            clauses.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    tail = "".join(current).strip()
    if tail:
        clauses.append(tail)
    return [clause for clause in clauses if clause]


_SET_CLAUSE = re.compile(r"^([A-Za-z0-9_./-]+)\s+(in|notin)\s*\(([^)]*)\)$")


def _parse_label_clause(clause: str) -> Requirement:
    if match := _SET_CLAUSE.match(clause):
        values = tuple(v.strip() for v in match.group(3).split(",") if v.strip())
        return Requirement(match.group(1), match.group(2), values)
    for operator in ("!=", "==", "="):
        if operator in clause:
            key, _, value = clause.partition(operator)
            key, value = key.strip(), value.strip()
            if not key:
                break
            return Requirement(key, "!=" if operator == "!=" else "=", (value,))
    if clause.startswith("!"):
        return Requirement(clause[1:].strip(), "!")
    if re.match(r"^[A-Za-z0-9_./-]+$", clause):
        return Requirement(clause, "exists")
    raise bad_request(f"unable to parse requirement: {clause!r}")


class FieldSelector:
    """A parsed field selector (`metadata.name=web,status.phase!=Running`)."""

    def __init__(self, terms: list[tuple[str, str, str]]) -> None:
        self.terms = terms

    @classmethod
    def parse(cls, text: str | None) -> FieldSelector:
        """Parse the `fieldSelector` query parameter (400 BadRequest if malformed)."""
        terms: list[tuple[str, str, str]] = []
        for clause in (text or "").split(","):
            clause = clause.strip()
            if not clause:
                continue
            for operator in ("!=", "==", "="):
                if operator in clause:
                    path, _, value = clause.partition(operator)
                    terms.append((path.strip(), "!=" if operator == "!=" else "=", value.strip()))
                    break
            else:
                raise bad_request(f"invalid selector: {clause!r}; can't understand it")
        return cls(terms)

    def matches(self, obj: dict[str, Any]) -> bool:
        """True if every term holds for the object (absent fields compare as empty)."""
        for path, operator, expected in self.terms:
            actual = lookup(obj, path)
            actual_text = "" if actual is None else str(actual)
            if (actual_text == expected) != (operator == "="):
                return False
        return True


def owner_uids(obj: dict[str, Any]) -> list[str]:
    """The uids in an object's `ownerReferences`."""
    refs = (obj.get("metadata") or {}).get("ownerReferences") or []
    return [str(ref.get("uid")) for ref in refs if ref.get("uid")]


# libyaml's loader when PyYAML was built with it: server-side apply sends every manifest as
# YAML (JSON in practice), and the pure-Python loader costs milliseconds per object.
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_yaml(document: bytes | str) -> Any:
    """A YAML (or JSON) document, loaded safely; raises yaml.YAMLError.

    Clients mostly send JSON (the official clients serialise apply patches so), which is
    YAML too: parsed by the json module first, at a fraction of the YAML loader's cost."""
    if document[:1] in (b"{", "{"):
        with contextlib.suppress(ValueError):
            return json.loads(document)
    return yaml.load(document, Loader=_SAFE_LOADER)
