"""NATS principals: signing requests, verifying them, and the settings that name a process's
credentials (no server: the tiers above run them against real NATS and MongoDB)."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
from pydantic import ValidationError
from slipway_devstack.credentials import new_seed, public_key

from slipway_keys.principals import (
    PRINCIPAL_HEADER,
    SIGNATURE_HEADER,
    Signer,
    Verifier,
    signer_of,
)
from slipway_libs.messaging import nats_options
from slipway_libs.settings import CommonSettings

SUBJECT = "slipway.deployment.cmd.scale"
BODY = b'{"id": "d-1", "replicas": 3}'


def signer_and_verifier(tmp_path: Path, principal: str = "integration") -> tuple[Signer, Verifier]:
    seed = tmp_path / f"{principal}.nk"
    seed.write_bytes(new_seed())
    return Signer.from_seed_file(seed), Verifier({principal: public_key(seed.read_bytes())})


def test_a_signed_request_names_the_principal_of_the_seed_file(tmp_path: Path) -> None:
    signer, verifier = signer_and_verifier(tmp_path)

    headers = signer.headers(SUBJECT, "cmd-1", BODY)

    assert headers[PRINCIPAL_HEADER] == "integration"
    assert verifier.verify(SUBJECT, "cmd-1", BODY, headers) == "integration"


@pytest.mark.parametrize(
    ("subject", "command_id", "body"),
    [
        ("slipway.deployment.cmd.delete", "cmd-1", BODY),  # another subject
        (SUBJECT, "cmd-2", BODY),  # another command id
        (SUBJECT, "cmd-1", b'{"id": "d-1", "replicas": 300}'),  # another body
    ],
)
def test_a_signature_does_not_carry_over_to_another_request(
    tmp_path: Path, subject: str, command_id: str, body: bytes
) -> None:
    signer, verifier = signer_and_verifier(tmp_path)
    headers = signer.headers(SUBJECT, "cmd-1", BODY)

    assert verifier.verify(subject, command_id, body, headers) is None


def test_a_claim_without_a_valid_signature_is_not_believed(tmp_path: Path) -> None:
    signer, verifier = signer_and_verifier(tmp_path)
    stranger = Signer("integration", new_seed())  # the right name, the wrong key

    forged = stranger.headers(SUBJECT, "cmd-1", BODY)
    garbled = {PRINCIPAL_HEADER: "integration", SIGNATURE_HEADER: "not base64!"}
    unknown = {**signer.headers(SUBJECT, "cmd-1", BODY), PRINCIPAL_HEADER: "admin"}

    assert verifier.verify(SUBJECT, "cmd-1", BODY, forged) is None
    assert verifier.verify(SUBJECT, "cmd-1", BODY, garbled) is None
    assert verifier.verify(SUBJECT, "cmd-1", BODY, unknown) is None
    assert verifier.verify(SUBJECT, "cmd-1", BODY, {}) is None


def test_the_verifier_reads_the_principals_file_and_skips_unusable_keys(tmp_path: Path) -> None:
    seed = new_seed()
    listing = tmp_path / "principals.json"
    listing.write_text(json.dumps({"gateway": public_key(seed), "broken": "UNOTAKEY"}))

    verifier = Verifier.from_file(listing)

    assert verifier.principals == {"gateway"}
    headers = Signer("gateway", seed).headers(SUBJECT, None, BODY)
    assert verifier.verify(SUBJECT, None, BODY, headers) == "gateway"


def test_an_unusable_seed_file_is_an_error_naming_the_setting(tmp_path: Path) -> None:
    (tmp_path / "garbled.nk").write_text("not a seed\n")

    assert signer_of(None) is None
    with pytest.raises(ValueError, match=r"SLIPWAY_NATS_NKEY_FILE: cannot use .*absent\.nk"):
        signer_of(tmp_path / "absent.nk")
    with pytest.raises(ValueError, match=r"garbled\.nk: not an NKey seed"):
        signer_of(tmp_path / "garbled.nk")


def test_a_signer_never_shows_its_seed(tmp_path: Path) -> None:
    seed = new_seed()
    assert seed.decode() not in repr(Signer("gateway", seed))


# --- settings -----------------------------------------------------------------------------


def test_the_mongodb_uri_is_read_from_its_file_and_kept_out_of_the_repr(tmp_path: Path) -> None:
    uri = "mongodb://image-builder:s3cret@127.0.0.1:27017/?replicaSet=rs0&authSource=admin"
    path = tmp_path / "image-builder.uri"
    path.write_text(uri + "\n")

    settings = CommonSettings(mongodb_uri_file=path)

    assert settings.mongodb_uri == uri
    assert "s3cret" not in repr(settings)


def test_an_unreadable_mongodb_uri_file_is_an_error_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="SLIPWAY_MONGODB_URI_FILE: cannot read") as missing:
        CommonSettings(mongodb_uri_file=tmp_path / "absent.uri")
    (tmp_path / "empty.uri").write_text("\n")
    with pytest.raises(ValidationError, match=r"SLIPWAY_MONGODB_URI_FILE: .* is empty"):
        CommonSettings(mongodb_uri_file=tmp_path / "empty.uri")
    assert "absent.uri" in str(missing.value)


def test_a_settings_error_never_echoes_a_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLIPWAY_MONGODB_TIMEOUT_S", "s3cret-typed-in-the-wrong-place")
    with pytest.raises(ValidationError) as error:
        CommonSettings()
    assert "mongodb_timeout_s" in str(error.value)
    assert "s3cret" not in str(error.value)


def test_nats_options_name_the_seed_file_of_the_principal(tmp_path: Path) -> None:
    seed = tmp_path / "gateway.nk"
    anonymous = CommonSettings(nats_url="nats://127.0.0.1:4333")
    principal = CommonSettings(nats_url="nats://127.0.0.1:4333", nats_nkey_file=seed)

    assert nats_options(anonymous) == {"servers": ["nats://127.0.0.1:4333"]}
    assert nats_options(principal) == {
        "servers": ["nats://127.0.0.1:4333"],
        "nkeys_seed": str(seed),
    }


# --- the embedded stack's files -------------------------------------------------------------


def test_the_embedded_stack_makes_each_seed_once_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    from slipway_devstack import credentials

    first = credentials.ensure_nkeys(tmp_path)
    seeds = {p: credentials.seed_file(tmp_path, p).read_bytes() for p in first}
    again = credentials.ensure_nkeys(tmp_path)

    assert again == first
    assert {p: credentials.seed_file(tmp_path, p).read_bytes() for p in again} == seeds
    for principal in first:
        mode = stat.S_IMODE(credentials.seed_file(tmp_path, principal).stat().st_mode)
        assert mode == 0o600, principal
    listing = credentials.principals_file(tmp_path)
    assert json.loads(listing.read_text()) == first
    assert stat.S_IMODE(listing.stat().st_mode) == 0o644
    assert not any(seed.decode().strip() in listing.read_text() for seed in seeds.values())


def test_each_process_of_the_embedded_stack_gets_its_own_credentials(tmp_path: Path) -> None:
    from slipway_devstack import credentials

    gateway = credentials.process_env(tmp_path, "gateway", nats=True, mongo=True)
    given_servers = credentials.process_env(tmp_path, "gateway", nats=False, mongo=False)

    assert gateway == {
        "SLIPWAY_NATS_NKEY_FILE": str(tmp_path / "nats" / "gateway.nk"),
        "SLIPWAY_NATS_PRINCIPALS_FILE": str(tmp_path / "nats" / "principals.json"),
        "SLIPWAY_MONGODB_URI_FILE": str(tmp_path / "mongo" / "gateway.uri"),
    }
    assert given_servers == {}


@pytest.mark.parametrize("value", ["false", "0", "no", "Off"])
def test_the_embedded_stack_warns_loudly_when_the_api_asks_for_no_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, value: str
) -> None:
    from slipway_devstack import log_credentials

    monkeypatch.setenv("SLIPWAY_AUTH_ENABLED", value)
    with caplog.at_level("INFO", logger="slipway.devstack"):
        log_credentials(tmp_path, own_nats=True, own_mongod=True)

    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "anyone" in warnings[0]
    assert not any("admin token" in r.getMessage() for r in caplog.records)


def test_the_embedded_stack_says_where_the_credentials_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from slipway_devstack import log_credentials

    monkeypatch.delenv("SLIPWAY_AUTH_ENABLED", raising=False)
    monkeypatch.delenv("SLIPWAY_ADMIN_TOKEN_FILE", raising=False)
    with caplog.at_level("INFO", logger="slipway.devstack"):
        log_credentials(tmp_path, own_nats=True, own_mongod=True)

    said = "\n".join(r.getMessage() for r in caplog.records)
    assert str(tmp_path / "admin.token") in said
    assert str(tmp_path / "nats" / "*.nk") in said
    assert str(tmp_path / "mongo" / "admin.uri") in said
    assert not [r for r in caplog.records if r.levelname == "WARNING"]
