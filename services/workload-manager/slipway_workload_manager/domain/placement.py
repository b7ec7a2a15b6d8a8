"""Where a Deployment's pods run: its `placement` as the pod spec's `nodeSelector`,
`affinity` (`podAffinity`, `podAntiAffinity`) and `topologySpreadConstraints` (pure).

A term or spread that names no pods (`match_labels` null) is about the Deployment's own
pods, selected as the Deployment selects them (by the entity id). A required term is
`requiredDuringSchedulingIgnoredDuringExecution`, a preferred one
`preferredDuringSchedulingIgnoredDuringExecution` with its weight. Empty lists render
nothing, so that server-side apply removes what a PUT took away.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from slipway_contracts.entities import Deployment, Placement, PodAffinityTerm, TopologySpread

from .ports import LABEL_ID

REQUIRED = "requiredDuringSchedulingIgnoredDuringExecution"
PREFERRED = "preferredDuringSchedulingIgnoredDuringExecution"


def _selector(match_labels: Mapping[str, str] | None, own: Mapping[str, str]) -> dict[str, Any]:
    chosen = own if match_labels is None else match_labels
    return {"matchLabels": {key: chosen[key] for key in sorted(chosen)}}


def _term(term: PodAffinityTerm, own: Mapping[str, str]) -> dict[str, Any]:
    return {
        "labelSelector": _selector(term.match_labels, own),
        "topologyKey": term.topology_key,
    }


def _affinity(terms: Sequence[PodAffinityTerm], own: Mapping[str, str]) -> dict[str, Any]:
    """One `podAffinity` or `podAntiAffinity`: its required terms, then its preferences."""
    required = [_term(term, own) for term in terms if term.required]
    preferred = [
        {"weight": term.weight, "podAffinityTerm": _term(term, own)}
        for term in terms
        if not term.required
    ]
    return {key: found for key, found in ((REQUIRED, required), (PREFERRED, preferred)) if found}


def _spread(spread: TopologySpread, own: Mapping[str, str]) -> dict[str, Any]:
    return {
        "maxSkew": spread.max_skew,
        "topologyKey": spread.topology_key,
        "whenUnsatisfiable": spread.when_unsatisfiable,
        "labelSelector": _selector(spread.match_labels, own),
    }


def pod_placement(deployment: Deployment) -> dict[str, Any]:
    """The pod spec fields that place the Deployment's pods (none given: spread over the
    nodes as a preference, the default `Placement`)."""
    placement = deployment.placement or Placement()
    own = {LABEL_ID: deployment.id}
    affinity = {
        key: rendered
        for key, terms in (
            ("podAffinity", placement.pod_affinity),
            ("podAntiAffinity", placement.pod_anti_affinity),
        )
        if (rendered := _affinity(terms, own))
    }
    fields: dict[str, Any] = {}
    if placement.node_selector:
        fields["nodeSelector"] = dict(sorted(placement.node_selector.items()))
    if affinity:
        fields["affinity"] = affinity
    if placement.topology_spread:
        fields["topologySpreadConstraints"] = [
            _spread(spread, own) for spread in placement.topology_spread
        ]
    return fields
