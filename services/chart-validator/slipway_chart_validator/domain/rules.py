"""Rule catalogue and the per-deployment configuration of how strictly each rule applies."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Literal, cast

from .findings import Finding, sort_findings

Level = Literal["error", "warning", "off"]
LEVELS: tuple[Level, ...] = ("error", "warning", "off")

# Every rule the engine can report, with what it checks. Rule ids are part of the public
# contract: they appear in findings, events and the SLIPWAY_CHART_RULES setting.
RULES: Mapping[str, str] = MappingProxyType(
    {
        "chart.source": "a chart path lies inside the chart roots; an archive unpacks safely",
        "chart.file": "Chart.yaml exists and is a YAML mapping",
        "chart.api-version": "Chart.yaml apiVersion is v2",
        "chart.name": "Chart.yaml name equals the chart's registered name",
        "chart.version": "Chart.yaml version is a SemVer 2.0 version",
        "chart.app-version": "Chart.yaml appVersion is present",
        "chart.dependencies": "every dependency is vendored under charts/ (nothing is fetched)",
        "helm.lint": "helm lint --strict reports no error or warning",
        "helm.template": "helm template renders the chart with its values",
        "schema": "every rendered object matches the target Kubernetes version's schema",
        "schema.unknown-kind": "the target Kubernetes version has a schema for the object's kind",
        "schema.kubernetes-version": "the target Kubernetes version is supported",
        "policy.run-as-non-root": "containers run as a non-root user",
        "policy.no-privileged": "containers are not privileged",
        "policy.no-privilege-escalation": "containers set allowPrivilegeEscalation: false",
        "policy.resources-requests": "containers request cpu and memory",
        "policy.resources-limits": "containers limit cpu and memory",
        "policy.liveness-probe": "long-running containers have a liveness probe",
        "policy.readiness-probe": "long-running containers have a readiness probe",
        "policy.image-tag": "images are pinned (a tag other than latest, or a digest)",
        "policy.port-range": "container and service ports are within 1-65535",
        "policy.service-target-port": "a Service's targetPort is a port of the pods it selects",
        "policy.service-selector": "a Service's selector selects a rendered workload",
    }
)

# Without these a chart cannot be validated at all, so no setting may relax them.
MANDATORY_RULES = frozenset(
    {
        "chart.source",
        "chart.file",
        "chart.dependencies",
        "helm.template",
        "schema.kubernetes-version",
    }
)

# Rule families whose members are not known in advance (hadolint codes such as DL3007).
_OPEN_FAMILIES = ("hadolint.",)
_FAMILY_WILDCARD = re.compile(r"^(?P<family>[a-z]+)\.\*$")


def is_known_rule(rule: str) -> bool:
    return rule in RULES or any(
        rule.startswith(prefix) and len(rule) > len(prefix) for prefix in _OPEN_FAMILIES
    )


def _known_families() -> set[str]:
    families = {rule.split(".", 1)[0] for rule in RULES}
    families.update(prefix.rstrip(".") for prefix in _OPEN_FAMILIES)
    return families


@dataclass(frozen=True)
class RuleConfig:
    """How strictly each rule applies: `error` (as reported), `warning` (downgraded), `off`.

    A level caps the severity: `error`, the default for every rule, keeps what the rule
    reports (policy violations are errors, helm lint warnings stay warnings); `warning`
    turns the rule's errors into warnings, which do not make a chart invalid; `off` drops
    the rule's findings. Keys are rule ids or a family wildcard such as `policy.*`; an
    exact id wins over its family. `MANDATORY_RULES` always stay errors.
    """

    levels: Mapping[str, Level] = field(default_factory=dict)

    def __post_init__(self) -> None:
        checked: dict[str, Level] = {}
        for key, level in self.levels.items():
            key = key.strip()
            if level not in LEVELS:
                raise ValueError(
                    f"rule {key!r}: level must be one of {', '.join(LEVELS)}, got {level!r}"
                )
            wildcard = _FAMILY_WILDCARD.match(key)
            if wildcard:
                if wildcard["family"] not in _known_families():
                    raise ValueError(f"unknown rule family {key!r}")
            elif not is_known_rule(key):
                raise ValueError(f"unknown rule {key!r}; known rules: {', '.join(RULES)}")
            elif key in MANDATORY_RULES and level != "error":
                raise ValueError(f"rule {key!r} cannot be relaxed: without it nothing is checked")
            checked[key] = level
        object.__setattr__(self, "levels", MappingProxyType(checked))

    @classmethod
    def parse(cls, text: str) -> RuleConfig:
        """Parse `policy.liveness-probe=warning,policy.image-tag=off` (commas or newlines)."""
        levels: dict[str, Level] = {}
        for item in re.split(r"[,\n]", text):
            item = item.strip()
            if not item:
                continue
            rule, sep, level = item.partition("=")
            if not sep:
                raise ValueError(f"rule setting {item!r} must look like <rule>=error|warning|off")
            level = level.strip().lower()
            if level not in LEVELS:
                raise ValueError(
                    f"rule {rule.strip()!r}: level must be one of {', '.join(LEVELS)}, "
                    f"got {level!r}"
                )
            levels[rule.strip()] = cast(Level, level)
        return cls(levels)

    def level_for(self, rule: str) -> Level:
        if rule in MANDATORY_RULES:
            return "error"
        if rule in self.levels:
            return self.levels[rule]
        return self.levels.get(rule.split(".", 1)[0] + ".*", "error")

    def apply(self, findings: Iterable[Finding]) -> list[Finding]:
        """Drop findings of rules that are off, downgrade those set to warning, sort."""
        kept: list[Finding] = []
        for finding in findings:
            level = self.level_for(finding.rule)
            if level == "off":
                continue
            if level == "warning" and finding.severity == "error":
                finding = replace(finding, severity="warning")
            kept.append(finding)
        return sort_findings(kept)

    def as_string(self) -> str:
        return ",".join(f"{rule}={level}" for rule, level in sorted(self.levels.items()))
