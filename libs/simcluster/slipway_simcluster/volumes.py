"""The simulated volume provisioner and binder (minikube's hostpath provisioner): a claim
of a known StorageClass gets a PersistentVolume `pvc-<uid>` of the size it requests and is
Bound at once; deleting the claim deletes the volume (reclaim policy Delete) or releases
it (Retain)."""

from __future__ import annotations

from typing import Any

from slipway_simcluster.clone import clone
from slipway_simcluster.events import NORMAL, WARNING, EventRecorder
from slipway_simcluster.meta import lookup
from slipway_simcluster.resources import (
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    STORAGE_CLASSES,
)
from slipway_simcluster.store import Store

PROVISIONER = "k8s.io/minikube-hostpath"
DEFAULT_CLASS = "standard"
_BIND_ANNOTATIONS = {
    "pv.kubernetes.io/bind-completed": "yes",
    "pv.kubernetes.io/bound-by-controller": "yes",
}
Object = dict[str, Any]


def default_storage_class() -> Object:
    """minikube's default StorageClass, `standard`."""
    return {
        "metadata": {
            "name": DEFAULT_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            "labels": {"addonmanager.kubernetes.io/mode": "EnsureExists"},
        },
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }


class VolumeController:
    """Binds the claims of one namespace; reclaims volumes of deleted claims."""

    def __init__(self, store: Store, recorder: EventRecorder) -> None:
        self._store = store
        self._recorder = recorder

    def reconcile_namespace(self, namespace: str) -> None:
        """Provision and bind every pending claim of the namespace."""
        for claim in list(self._store.objects(PERSISTENT_VOLUME_CLAIMS, namespace)):
            if (claim.get("status") or {}).get("phase") != "Bound":
                self._bind(claim)
        self.reclaim()

    def _bind(self, claim: Object) -> None:
        spec = claim.get("spec") or {}
        class_name = spec.get("storageClassName")
        storage_class = self._store.peek(STORAGE_CLASSES, "", class_name) if class_name else None
        if storage_class is None:
            reason = (
                f'storageclass.storage.k8s.io "{class_name}" not found'
                if class_name
                else ("no persistent volumes available for this claim and no storage class is set")
            )
            self._recorder.record(
                claim, WARNING, "ProvisioningFailed", reason, "persistentvolume-controller"
            )
            return
        metadata = claim["metadata"]
        volume_name = f"pvc-{metadata['uid']}"
        size = lookup(spec, "resources.requests.storage")
        if self._store.peek(PERSISTENT_VOLUMES, "", volume_name) is None:
            self._store.create(
                PERSISTENT_VOLUMES,
                {
                    "metadata": {
                        "name": volume_name,
                        "annotations": {"pv.kubernetes.io/provisioned-by": PROVISIONER},
                    },
                    "spec": {
                        "capacity": {"storage": size},
                        "accessModes": list(spec.get("accessModes") or []),
                        "persistentVolumeReclaimPolicy": storage_class.get(
                            "reclaimPolicy", "Delete"
                        ),
                        "storageClassName": class_name,
                        "volumeMode": spec.get("volumeMode", "Filesystem"),
                        "hostPath": {
                            "path": f"/tmp/hostpath-provisioner/{metadata.get('namespace')}/{metadata['name']}",
                            "type": "",
                        },
                        "claimRef": {
                            "kind": "PersistentVolumeClaim",
                            "namespace": metadata.get("namespace", ""),
                            "name": metadata["name"],
                            "uid": metadata["uid"],
                            "apiVersion": "v1",
                        },
                    },
                    "status": {"phase": "Bound"},
                },
            )
        bound = clone(claim)
        bound["metadata"].setdefault("annotations", {}).update(
            {
                **_BIND_ANNOTATIONS,
                "volume.beta.kubernetes.io/storage-provisioner": PROVISIONER,
                "volume.kubernetes.io/storage-provisioner": PROVISIONER,
            }
        )
        bound["spec"]["volumeName"] = volume_name
        bound["status"] = {
            "phase": "Bound",
            "accessModes": list(spec.get("accessModes") or []),
            "capacity": {"storage": size},
        }
        self._store.replace(PERSISTENT_VOLUME_CLAIMS, bound)
        self._recorder.record(
            bound,
            NORMAL,
            "ProvisioningSucceeded",
            f"Successfully provisioned volume {volume_name}",
            f"{PROVISIONER}_simulated",
        )

    def reclaim(self) -> None:
        """Delete (or release) the volumes whose claim is gone."""
        for volume in list(self._store.objects(PERSISTENT_VOLUMES)):
            ref = (volume.get("spec") or {}).get("claimRef") or {}
            if not ref.get("name"):
                continue
            claim = self._store.peek(
                PERSISTENT_VOLUME_CLAIMS, ref.get("namespace", ""), ref["name"]
            )
            if claim is not None and claim["metadata"].get("uid") == ref.get("uid"):
                continue
            policy = (volume.get("spec") or {}).get("persistentVolumeReclaimPolicy", "Delete")
            if policy == "Delete":
                self._store.delete(PERSISTENT_VOLUMES, "", volume["metadata"]["name"])
            elif (volume.get("status") or {}).get("phase") != "Released":
                released = clone(volume)
                released["status"] = {"phase": "Released"}
                self._store.replace(PERSISTENT_VOLUMES, released)
