"""Protobuf request bodies, as client-go's typed clients send them (helm's release Secrets,
kubectl's imperative commands), read into the objects they describe."""

from __future__ import annotations

import pytest
from slipway_simcluster.protobuf import ProtobufError, decode_object

# Bodies kubectl 1.32 sent (`kubectl -v=8` prints them), in namespace "pb".
CREATE_DEPLOYMENT_REPLICAS_0 = bytes.fromhex(
    "6b3873000a150a07617070732f7631120a4465706c6f796d656e7412af010a1f0a02783012001a0270622200"
    "2a003200380042005a090a0361707012027830127e0800120b0a090a03617070120278301a650a1b0a001200"
    "1a0022002a003200380042005a090a0361707012027830124612280a0762757379626f78120962757379626f"
    "783a312a0042006a007200800100880100900100a201001a00320042004a0052005800600068008201008a01"
    "009a0100c2010022020a00280038001a0c0800100018002000280038001a002200"
)
CREATE_SECRET = bytes.fromhex(
    "6b3873000a0c0a027631120653656372657412200a140a02733112001a02706222002a003200380042001206"
    "0a01611201621a001a002200"
)
CREATE_JOB = bytes.fromhex(
    "6b3873000a0f0a0862617463682f763112034a6f62127e0a140a026a3112001a02706222002a003200380042"
    "00125c325a0a100a0012001a0022002a00320038004200124612230a026a31120962757379626f783a312a00"
    "42006a007200800100880100900100a201001a054e65766572320042004a0052005800600068008201008a01"
    "009a0100c201001a082000280030003a001a002200"
)


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _field(number: int, payload: bytes | int) -> bytes:
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = _field(1, api_version.encode()) + _field(2, kind.encode())
    return b"k8s\x00" + _field(1, type_meta) + _field(2, raw)


def test_kubectl_create_deployment_keeps_an_explicit_zero() -> None:
    deployment = decode_object(CREATE_DEPLOYMENT_REPLICAS_0)

    assert deployment == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x0", "namespace": "pb", "labels": {"app": "x0"}},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "x0"}},
            "template": {
                "metadata": {"labels": {"app": "x0"}},
                "spec": {
                    "containers": [{"name": "busybox", "image": "busybox:1", "resources": {}}]
                },
            },
            "strategy": {},
        },
    }


def test_kubectl_create_secret_data_is_base64() -> None:
    secret = decode_object(CREATE_SECRET)

    assert secret == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "s1", "namespace": "pb"},
        "data": {"a": "Yg=="},
    }


def test_kubectl_create_job_leaves_the_status_to_the_server() -> None:
    job = decode_object(CREATE_JOB)

    assert "status" not in job
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_times_integers_and_int_or_strings() -> None:
    created = _field(1, 1_700_000_000)
    metadata = _field(1, b"web") + _field(8, created) + _field(7, 3)
    int_or_string = _field(1, 1) + _field(3, b"25%")  # type 1: a string
    budget = _field(1, metadata) + _field(2, _field(3, int_or_string))

    decoded = decode_object(envelope("policy/v1", "PodDisruptionBudget", budget))

    assert decoded["metadata"] == {
        "name": "web",
        "creationTimestamp": "2023-11-14T22:13:20Z",
        "generation": 3,
    }
    assert decoded["spec"] == {"maxUnavailable": "25%"}


def test_a_field_the_table_does_not_know_is_refused_not_dropped() -> None:
    secret = _field(1, _field(1, b"s1")) + _field(99, b"surprise")

    with pytest.raises(ProtobufError, match="field 99 of Secret"):
        decode_object(envelope("v1", "Secret", secret))


def test_a_kind_without_a_description_is_refused() -> None:
    with pytest.raises(ProtobufError, match="Lease is not read from protobuf"):
        decode_object(envelope("coordination.k8s.io/v1", "Lease", b""))


def test_a_body_without_the_magic_number_is_refused() -> None:
    with pytest.raises(ProtobufError, match="magic"):
        decode_object(b'{"kind": "Secret"}')
