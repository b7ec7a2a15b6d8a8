"""Defaulting and validation of the kinds the simulated controllers run beyond Deployments:
StatefulSets, DaemonSets, Jobs, CronJobs, PersistentVolumeClaims, and custom resources."""

from __future__ import annotations

from typing import Any

from slipway_simcluster.errors import FieldError, invalid
from slipway_simcluster.meta import LabelSelector, lookup
from slipway_simcluster.resources import STORAGE_CLASSES, ResourceType
from slipway_simcluster.store import Store
from slipway_simcluster.strategies import (
    SpecAndStatusStrategy,
    Strategy,
    _validate_pod_spec,
    default_pod_template,
    immutable,
    spec_of,
)

DEFAULT_STORAGE_CLASS = "storageclass.kubernetes.io/is-default-class"
JOB_UID_LABEL = "batch.kubernetes.io/controller-uid"
JOB_NAME_LABEL = "batch.kubernetes.io/job-name"
_STATEFULSET_MUTABLE = (
    "replicas",
    "ordinals",
    "template",
    "updateStrategy",
    "persistentVolumeClaimRetentionPolicy",
    "minReadySeconds",
)


def _selector_errors(spec: dict[str, Any], path: str = "spec") -> list[FieldError]:
    """A workload's selector is required and must select its pod template."""
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        return [FieldError(f"{path}.selector", "Required value", "FieldValueRequired")]
    labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    if not LabelSelector.from_object(selector).matches(labels):
        return [
            FieldError(
                f"{path}.template.metadata.labels",
                f"Invalid value: {labels!r}: `selector` does not match template `labels`",
            )
        ]
    return []


def _template_errors(spec: dict[str, Any], path: str = "spec") -> list[FieldError]:
    template = spec.get("template")
    if not isinstance(template, dict):
        return [FieldError(f"{path}.template", "Required value", "FieldValueRequired")]
    return _validate_pod_spec(template.get("spec"), f"{path}.template.spec")


class StatefulSetStrategy(SpecAndStatusStrategy):
    """apps/v1 StatefulSet defaults; only replicas, template and a few more may change."""

    def default(self, obj: dict[str, Any], store: Store) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {}).setdefault("partition", 0)
        retention = spec.setdefault("persistentVolumeClaimRetentionPolicy", {})
        retention.setdefault("whenDeleted", "Retain")
        retention.setdefault("whenScaled", "Retain")
        for claim in spec.get("volumeClaimTemplates") or []:
            if isinstance(claim, dict):
                claim.setdefault("apiVersion", "v1")
                claim.setdefault("kind", "PersistentVolumeClaim")
                claim.setdefault("spec", {}).setdefault("volumeMode", "Filesystem")
        errors = _selector_errors(spec) + _template_errors(spec)
        if errors:
            raise invalid("StatefulSet", "apps", obj["metadata"]["name"], errors)
        default_pod_template(spec["template"])

    def check_update(self, obj: dict[str, Any], old: dict[str, Any]) -> None:
        new_spec, old_spec = obj.get("spec") or {}, old.get("spec") or {}
        fixed_new = {k: v for k, v in new_spec.items() if k not in _STATEFULSET_MUTABLE}
        fixed_old = {k: v for k, v in old_spec.items() if k not in _STATEFULSET_MUTABLE}
        if fixed_new != fixed_old:
            allowed = "', '".join(_STATEFULSET_MUTABLE[:-1])
            raise invalid(
                "StatefulSet",
                "apps",
                obj["metadata"]["name"],
                [
                    FieldError(
                        "spec",
                        f"Forbidden: updates to statefulset spec for fields other than '{allowed}' "
                        f"and '{_STATEFULSET_MUTABLE[-1]}' are forbidden",
                        "FieldValueForbidden",
                    )
                ],
            )


class DaemonSetStrategy(SpecAndStatusStrategy):
    """apps/v1 DaemonSet defaults (rolling updates, one pod unavailable at a time)."""

    def default(self, obj: dict[str, Any], store: Store) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {})
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            rolling.setdefault("maxUnavailable", 1)
            rolling.setdefault("maxSurge", 0)
        errors = _selector_errors(spec) + _template_errors(spec)
        if errors:
            raise invalid("DaemonSet", "apps", obj["metadata"]["name"], errors)
        default_pod_template(spec["template"])

    def check_update(self, obj: dict[str, Any], old: dict[str, Any]) -> None:
        immutable("DaemonSet", "apps", obj, old, "spec.selector")


def _restart_policy_errors(template: Any, path: str) -> list[FieldError]:
    policy = ((template or {}).get("spec") or {}).get("restartPolicy")
    where = f"{path}.spec.restartPolicy"
    if policy is None:
        return [
            FieldError(
                where, 'Required value: valid values: "OnFailure", "Never"', "FieldValueRequired"
            )
        ]
    if policy not in ("OnFailure", "Never"):
        return [
            FieldError(
                where,
                f'Unsupported value: "{policy}": supported values: "OnFailure", "Never"',
                "FieldValueNotSupported",
            )
        ]
    return []


def default_job_spec(spec: dict[str, Any]) -> None:
    """batch/v1 Job spec defaults."""
    spec.setdefault("parallelism", 1)
    spec.setdefault("completions", 1)
    spec.setdefault("backoffLimit", 6)
    spec.setdefault("completionMode", "NonIndexed")
    spec.setdefault("suspend", False)
    spec.setdefault("manualSelector", None)
    if spec["manualSelector"] is None:
        del spec["manualSelector"]
    spec.setdefault("podReplacementPolicy", "TerminatingOrFailed")


class JobStrategy(SpecAndStatusStrategy):
    """batch/v1 Job: pods labelled with the Job's uid and name; the template is immutable."""

    def default(self, obj: dict[str, Any], store: Store) -> None:
        spec = obj.setdefault("spec", {})
        metadata = obj["metadata"]
        errors = _restart_policy_errors(spec.get("template"), "spec.template")
        errors += _validate_pod_spec((spec.get("template") or {}).get("spec"), "spec.template.spec")
        if errors:
            raise invalid("Job", "batch", metadata["name"], errors)
        default_job_spec(spec)
        template = spec["template"]
        default_pod_template(template)
        if not spec.get("manualSelector"):
            uid = metadata.get("uid", "")
            labels = template["metadata"].setdefault("labels", {})
            for key, value in (
                (JOB_UID_LABEL, uid),
                (JOB_NAME_LABEL, metadata["name"]),
                ("controller-uid", uid),
                ("job-name", metadata["name"]),
            ):
                labels.setdefault(key, value)
            spec.setdefault("selector", {"matchLabels": {JOB_UID_LABEL: labels[JOB_UID_LABEL]}})

    def check_update(self, obj: dict[str, Any], old: dict[str, Any]) -> None:
        immutable("Job", "batch", obj, old, "spec.selector", "spec.template", "spec.completions")


class CronJobStrategy(SpecAndStatusStrategy):
    """batch/v1 CronJob defaults; the job template needs a restart policy a Job accepts."""

    def default(self, obj: dict[str, Any], store: Store) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("concurrencyPolicy", "Allow")
        spec.setdefault("suspend", False)
        spec.setdefault("successfulJobsHistoryLimit", 3)
        spec.setdefault("failedJobsHistoryLimit", 1)
        job_spec = spec.setdefault("jobTemplate", {}).setdefault("spec", {})
        errors = []
        if not spec.get("schedule"):
            errors.append(FieldError("spec.schedule", "Required value", "FieldValueRequired"))
        errors += _restart_policy_errors(job_spec.get("template"), "spec.jobTemplate.spec.template")
        if errors:
            raise invalid("CronJob", "batch", obj["metadata"]["name"], errors)
        job_spec.setdefault("backoffLimit", 6)
        job_spec.setdefault("completionMode", "NonIndexed")
        job_spec.setdefault("suspend", False)
        default_pod_template(job_spec.get("template"))


class PersistentVolumeClaimStrategy(SpecAndStatusStrategy):
    """Claims get the default StorageClass (the DefaultStorageClass admission) and start
    Pending until the simulated provisioner binds them."""

    def prepare_create(self, obj: dict[str, Any], store: Store) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("volumeMode", "Filesystem")
        if "storageClassName" not in spec:
            default = next(
                (
                    sc["metadata"]["name"]
                    for sc in store.objects(STORAGE_CLASSES)
                    if (sc["metadata"].get("annotations") or {}).get(DEFAULT_STORAGE_CLASS)
                    == "true"
                ),
                None,
            )
            if default is not None:
                spec["storageClassName"] = default
        requested = lookup(spec, "resources.requests.storage")
        if not spec.get("accessModes") or requested is None:
            missing = (
                "spec.accessModes" if not spec.get("accessModes") else "spec.resources[storage]"
            )
            raise invalid(
                "PersistentVolumeClaim",
                "",
                obj["metadata"]["name"],
                [FieldError(missing, "Required value", "FieldValueRequired")],
            )
        obj["metadata"]["generation"] = 1
        obj["status"] = {"phase": "Pending"}


class PersistentVolumeStrategy(SpecAndStatusStrategy):
    """A new volume is Available until a claim binds it."""

    def prepare_create(self, obj: dict[str, Any], store: Store) -> None:
        super().prepare_create(obj, store)
        obj["status"] = {"phase": "Available"}


class CustomResourceDefinitionStrategy(SpecAndStatusStrategy):
    """A definition's name is `<plural>.<group>`, with one storage version among its versions."""

    def default(self, obj: dict[str, Any], store: Store) -> None:
        spec = obj.setdefault("spec", {})
        names = spec.get("names") or {}
        name = obj["metadata"]["name"]
        errors: list[FieldError] = []
        expected = f"{names.get('plural', '')}.{spec.get('group', '')}"
        if name != expected:
            errors.append(
                FieldError(
                    "metadata.name",
                    f'Invalid value: "{name}": must be spec.names.plural+"."+spec.group',
                )
            )
        for field_name in ("plural", "kind"):
            if not names.get(field_name):
                errors.append(
                    FieldError(f"spec.names.{field_name}", "Required value", "FieldValueRequired")
                )
        if spec.get("scope") not in ("Namespaced", "Cluster"):
            errors.append(
                FieldError(
                    "spec.scope",
                    f'Unsupported value: "{spec.get("scope")}": supported values: "Cluster", "Namespaced"',
                    "FieldValueNotSupported",
                )
            )
        versions = [v for v in spec.get("versions") or [] if isinstance(v, dict)]
        if sum(1 for v in versions if v.get("storage")) != 1:
            errors.append(
                FieldError(
                    "spec.versions",
                    "Invalid value: must have exactly one version marked as storage version",
                )
            )
        if errors:
            raise invalid("CustomResourceDefinition", "apiextensions.k8s.io", name, errors)
        names.setdefault("singular", str(names["kind"]).lower())
        names.setdefault("listKind", f"{names['kind']}List")
        spec.setdefault("conversion", {"strategy": "None"})

    def check_update(self, obj: dict[str, Any], old: dict[str, Any]) -> None:
        immutable(
            "CustomResourceDefinition", "apiextensions.k8s.io", obj, old, "spec.group", "spec.scope"
        )


class CustomResourceStrategy(Strategy):
    """Custom resources: `metadata.generation` counts changes (of the spec only when a
    status subresource keeps status apart)."""

    def __init__(self, has_status: bool) -> None:
        self.has_status = has_status

    def _counted(self, obj: dict[str, Any]) -> dict[str, Any]:
        counted = spec_of(obj)
        if not self.has_status and "status" in obj:
            counted["status"] = obj["status"]
        return counted

    def prepare_create(self, obj: dict[str, Any], store: Store) -> None:
        obj["metadata"]["generation"] = 1

    def prepare_update(self, obj: dict[str, Any], old: dict[str, Any], store: Store) -> None:
        generation = int(old["metadata"].get("generation", 1))
        if self._counted(obj) != self._counted(old):
            generation += 1
        obj["metadata"]["generation"] = generation


def custom_resource_strategy(rt: ResourceType) -> Strategy:
    """The strategy of a custom resource type."""
    return CustomResourceStrategy("status" in rt.subresources)
