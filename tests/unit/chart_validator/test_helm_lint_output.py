"""Reading `helm lint` output into findings (the text helm 3 prints)."""

from __future__ import annotations

from slipway_chart_validator.adapters.helm import parse_lint_output

OUTPUT = """==> Linting web
[INFO] Chart.yaml: icon is recommended
[ERROR] Chart.yaml: version should be of type string but it's of type float64
[WARNING] templates/service.yaml: object name does not conform to Kubernetes naming requirements: "Bad_Name"
[ERROR] templates/: parse error at (web/templates/deployment.yaml:17): unexpected EOF
[ERROR] values.yaml: unable to parse YAML
\terror converting YAML to JSON: yaml: line 3: mapping values are not allowed in this context

Error: 1 chart(s) linted, 1 chart(s) failed
"""


def test_errors_and_warnings_are_kept_and_info_dropped() -> None:
    findings = parse_lint_output(OUTPUT)
    assert [(f.severity, f.file) for f in findings] == [
        ("error", "Chart.yaml"),
        ("warning", "templates/service.yaml"),
        ("error", "templates/deployment.yaml"),
        ("error", "values.yaml"),
    ]
    assert all(f.rule == "helm.lint" for f in findings)
    assert findings[0].message == "version should be of type string but it's of type float64"


def test_continuation_lines_belong_to_their_message() -> None:
    last = parse_lint_output(OUTPUT)[-1]
    assert last.message.startswith("unable to parse YAML\n")
    assert "line 3: mapping values" in last.message


def test_clean_output_has_no_findings() -> None:
    clean = "==> Linting web\n[INFO] Chart.yaml: icon is recommended\n\n1 chart(s) linted, 0 chart(s) failed\n"
    assert parse_lint_output(clean) == []
