"""Rule settings: parsing, severity caps, mandatory rules, and the stable order of findings."""

from __future__ import annotations

import random

import pytest

from slipway_chart_validator.domain.findings import Finding, sort_findings
from slipway_chart_validator.domain.rules import MANDATORY_RULES, RULES, RuleConfig


def finding(rule: str, severity: str = "error", **where: str) -> Finding:
    return Finding(severity=severity, rule=rule, message=f"{rule} broken", **where)  # type: ignore[arg-type]


def test_default_keeps_every_finding_as_reported() -> None:
    findings = [finding("policy.image-tag"), finding("helm.lint", "warning")]
    assert RuleConfig().apply(findings) == sort_findings(findings)


def test_parse_the_environment_string() -> None:
    config = RuleConfig.parse("policy.liveness-probe=warning, policy.image-tag=off\n")
    assert config.level_for("policy.liveness-probe") == "warning"
    assert config.level_for("policy.image-tag") == "off"
    assert config.level_for("policy.readiness-probe") == "error"
    assert RuleConfig.parse("") == RuleConfig()


def test_warning_downgrades_and_off_drops() -> None:
    config = RuleConfig.parse("policy.liveness-probe=warning,policy.image-tag=off")
    result = config.apply(
        [finding("policy.liveness-probe"), finding("policy.image-tag"), finding("schema")]
    )
    assert [(f.rule, f.severity) for f in result] == [
        ("schema", "error"),
        ("policy.liveness-probe", "warning"),
    ]


def test_error_level_does_not_upgrade_warnings() -> None:
    config = RuleConfig({"helm.lint": "error"})
    assert config.apply([finding("helm.lint", "warning")])[0].severity == "warning"


def test_family_wildcard_and_exact_rule_precedence() -> None:
    config = RuleConfig.parse("policy.*=warning,policy.image-tag=error")
    assert config.level_for("policy.liveness-probe") == "warning"
    assert config.level_for("policy.image-tag") == "error"
    assert config.level_for("schema") == "error"


def test_hadolint_codes_are_accepted() -> None:
    config = RuleConfig.parse("hadolint.DL3008=off")
    assert config.apply([finding("hadolint.DL3008", "warning")]) == []


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("policy.liveness-prob=warning", "unknown rule 'policy.liveness-prob'"),
        ("policy.image-tag=maybe", "level must be one of"),
        ("policy.image-tag", "must look like"),
        ("nonsense.*=off", "unknown rule family"),
        ("helm.template=off", "cannot be relaxed"),
    ],
)
def test_bad_settings_are_refused_with_a_clear_message(text: str, complaint: str) -> None:
    with pytest.raises(ValueError, match=complaint):
        RuleConfig.parse(text)


def test_mandatory_rules_survive_a_family_wildcard() -> None:
    config = RuleConfig.parse("chart.*=off,helm.*=off,schema.*=off")
    kept = config.apply([finding(rule) for rule in sorted(MANDATORY_RULES)])
    assert sorted(f.rule for f in kept) == sorted(MANDATORY_RULES)


def test_every_rule_has_a_description() -> None:
    assert all(RULES.values())
    assert "policy.service-target-port" in RULES


def test_as_string_round_trips() -> None:
    config = RuleConfig.parse("policy.image-tag=off,policy.*=warning")
    assert RuleConfig.parse(config.as_string()) == config


def test_order_is_stable_whatever_the_input_order() -> None:
    findings = [
        finding("policy.image-tag", file="templates/b.yaml", resource="Deployment/b"),
        finding("policy.image-tag", file="templates/a.yaml", resource="Deployment/a"),
        finding("helm.lint", "warning", file="Chart.yaml"),
        finding("chart.version", file="Chart.yaml", path="version"),
        finding("schema", file="templates/a.yaml", resource="Deployment/a", path="spec"),
    ]
    expected = sort_findings(findings)
    for seed in range(10):
        shuffled = findings[:]
        random.Random(seed).shuffle(shuffled)
        assert sort_findings(shuffled) == expected
    assert expected[0].rule == "chart.version"  # errors first, then by file
    assert expected[-1].severity == "warning"


def test_finding_as_dict_round_trips() -> None:
    original = finding("schema", file="templates/a.yaml", resource="Deployment/a", path="spec")
    assert original.as_dict() == {
        "severity": "error",
        "rule": "schema",
        "message": "schema broken",
        "file": "templates/a.yaml",
        "resource": "Deployment/a",
        "path": "spec",
    }
    assert Finding.from_dict(original.as_dict()) == original


def test_severity_is_checked() -> None:
    with pytest.raises(ValueError, match="severity"):
        Finding(severity="fatal", rule="schema", message="x")  # type: ignore[arg-type]
