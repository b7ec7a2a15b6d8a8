"""Splitting `helm template` output into objects."""

from __future__ import annotations

from slipway_chart_validator.domain.manifests import parse_rendered

RENDERED = """---
# Source: web/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
  annotations:
    released: 2024-01-02
---
# Source: web/templates/deployment.yaml
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: apps
---
# Source: web/charts/redis/templates/list.yaml
apiVersion: v1
kind: List
items:
  - apiVersion: v1
    kind: ConfigMap
    metadata:
      name: from-list
---
# Source: web/templates/empty.yaml
---
# Source: web/templates/broken.yaml
metadata:
  name: no-kind
"""


def test_objects_keep_their_template_file_relative_to_the_chart() -> None:
    manifests, findings = parse_rendered(RENDERED)
    assert [(m.resource, m.file) for m in manifests] == [
        ("Service/web", "templates/service.yaml"),
        ("Deployment/web", "templates/deployment.yaml"),
        ("ConfigMap/from-list", "charts/redis/templates/list.yaml"),
    ]
    assert manifests[1].namespace == "apps"
    assert [(f.rule, f.file) for f in findings] == [("schema", "templates/broken.yaml")]


def test_dates_stay_strings_as_in_the_api_server() -> None:
    manifests, _ = parse_rendered(RENDERED)
    assert manifests[0].metadata["annotations"]["released"] == "2024-01-02"


def test_unparseable_output_becomes_a_finding() -> None:
    manifests, findings = parse_rendered("---\n# Source: web/templates/x.yaml\na: [b\n")
    assert manifests == []
    assert [(f.rule, f.file) for f in findings] == [("helm.template", "templates/x.yaml")]
