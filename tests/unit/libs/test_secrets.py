"""Sealing secrets at rest (slipway_keys.secrets): what opens, what is refused and why, and
where the key comes from."""

from __future__ import annotations

import base64
import os
import stat
import threading
from pathlib import Path

import pytest
from pydantic import SecretStr

from slipway_keys.secrets import (
    KEY_BYTES,
    SealedSecretError,
    Sealer,
    SecretKeyError,
    SecretKeySettings,
    ensure_key_file,
    read_key_file,
    sealer_from,
)

SECRET = b"token: kubeconfig-bearer-s3cr3t"
RECORD = b"minikube_cluster/c-1/kubeconfig"


@pytest.fixture(autouse=True)
def no_key_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The key comes from what each test sets, not from the environment running it."""
    monkeypatch.delenv("SLIPWAY_SECRET_KEY", raising=False)
    monkeypatch.delenv("SLIPWAY_SECRET_KEY_FILE", raising=False)


@pytest.fixture
def sealer() -> Sealer:
    return Sealer(os.urandom(KEY_BYTES))


def test_a_sealed_secret_opens_with_the_same_key_and_associated_data(sealer: Sealer):
    token = sealer.seal(SECRET, RECORD)

    assert sealer.open_sealed(token, RECORD) == SECRET


def test_the_token_is_text_that_holds_nothing_of_the_secret(sealer: Sealer):
    token = sealer.seal(SECRET, RECORD)

    assert token.isascii() and token.startswith(f"v1.{sealer.key_id}.")
    assert b"s3cr3t" not in token.encode()
    assert "s3cr3t" not in base64.urlsafe_b64decode(token.split(".")[2] + "==").decode("latin-1")


def test_sealing_twice_gives_two_tokens(sealer: Sealer):
    assert sealer.seal(SECRET, RECORD) != sealer.seal(SECRET, RECORD)


def test_a_token_moved_to_another_record_does_not_open(sealer: Sealer):
    token = sealer.seal(SECRET, RECORD)

    with pytest.raises(SealedSecretError) as refused:
        sealer.open_sealed(token, b"minikube_cluster/c-2/kubeconfig")

    assert "does not authenticate" in str(refused.value)


def test_another_key_is_told_apart_and_named_by_its_id(sealer: Sealer):
    other = Sealer(os.urandom(KEY_BYTES))
    token = other.seal(SECRET, RECORD)

    with pytest.raises(SealedSecretError) as refused:
        sealer.open_sealed(token, RECORD)

    message = str(refused.value)
    assert f"key id {other.key_id}" in message and sealer.key_id in message
    assert "s3cr3t" not in message


@pytest.mark.parametrize(
    "tamper",
    [
        lambda t: t[:-2] + ("AA" if t[-2:] != "AA" else "BB"),  # the tag changed
        lambda t: t.rsplit(".", 1)[0] + "." + "A" * 10,  # too short to hold a tag
        lambda t: t.rsplit(".", 1)[0] + ".***",  # not base64
        lambda t: "v9" + t[2:],  # a form this version does not read
        lambda t: "garbage",
    ],
)
def test_a_tampered_token_is_refused_without_the_secret(sealer: Sealer, tamper):
    token = tamper(sealer.seal(SECRET, RECORD))

    with pytest.raises(SealedSecretError) as refused:
        sealer.open_sealed(token, RECORD)

    assert "s3cr3t" not in str(refused.value)


def test_a_key_must_have_32_bytes():
    with pytest.raises(SecretKeyError, match="32 bytes, not 16"):
        Sealer(os.urandom(16))


def test_the_sealer_shows_its_key_id_never_the_key(sealer: Sealer):
    assert repr(sealer) == f"Sealer(key_id={sealer.key_id!r})"


# --- where the key comes from ---------------------------------------------------------


def test_a_missing_key_file_is_made_owner_only_and_used_from_then_on(tmp_path: Path):
    settings = SecretKeySettings()
    first = sealer_from(settings, tmp_path / "state")

    key_file = tmp_path / "state" / "secret.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(base64.b64decode(key_file.read_text())) == KEY_BYTES
    again = sealer_from(settings, tmp_path / "state")
    assert again.open_sealed(first.seal(SECRET, RECORD), RECORD) == SECRET


def test_an_existing_key_file_is_kept(tmp_path: Path):
    path = tmp_path / "secret.key"
    path.write_text(base64.b64encode(b"k" * KEY_BYTES).decode())

    ensure_key_file(path)

    assert read_key_file(path) == b"k" * KEY_BYTES


def test_processes_making_the_key_at_once_all_get_the_same_one(tmp_path: Path):
    path = tmp_path / "secret.key"
    threads = [threading.Thread(target=ensure_key_file, args=(path,)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(read_key_file(path)) == KEY_BYTES
    assert [p.name for p in tmp_path.iterdir()] == ["secret.key"]  # no temporary left


def test_the_key_file_setting_names_the_file(tmp_path: Path):
    path = tmp_path / "elsewhere" / "slipway.key"

    sealer_from(SecretKeySettings(secret_key_file=path), tmp_path / "state")

    assert path.exists()
    assert not (tmp_path / "state" / "secret.key").exists()


def test_the_key_setting_wins_over_the_key_file(tmp_path: Path):
    key = os.urandom(KEY_BYTES)
    settings = SecretKeySettings(secret_key=SecretStr(base64.b64encode(key).decode()))

    sealer = sealer_from(settings, tmp_path)

    assert sealer.open_sealed(Sealer(key).seal(SECRET, RECORD), RECORD) == SECRET
    assert not (tmp_path / "secret.key").exists()


def test_the_key_setting_is_read_from_the_environment(monkeypatch, tmp_path: Path):
    key = os.urandom(KEY_BYTES)
    monkeypatch.setenv("SLIPWAY_SECRET_KEY", base64.urlsafe_b64encode(key).decode())

    sealer = sealer_from(SecretKeySettings(), tmp_path)

    assert sealer.key_id == Sealer(key).key_id


@pytest.mark.parametrize(
    ("value", "problem"),
    [("not base64 at all!", "is not base64"), (base64.b64encode(b"short").decode(), "not 5")],
)
def test_a_bad_key_setting_is_refused_without_echoing_it(tmp_path: Path, value, problem):
    with pytest.raises(SecretKeyError) as refused:
        sealer_from(SecretKeySettings(secret_key=SecretStr(value)), tmp_path)

    assert str(refused.value).startswith("SLIPWAY_SECRET_KEY ")
    assert problem in str(refused.value)
    assert value not in str(refused.value)


def test_a_key_file_of_the_wrong_size_is_named(tmp_path: Path):
    path = tmp_path / "secret.key"
    path.write_text(base64.b64encode(b"x" * 20).decode())

    with pytest.raises(SecretKeyError) as refused:
        read_key_file(path)

    assert str(refused.value) == f"the secret key file {path} must hold 32 bytes in base64, not 20"


def test_an_unreadable_key_file_is_named(tmp_path: Path):
    with pytest.raises(SecretKeyError, match="cannot read the secret key file"):
        read_key_file(tmp_path / "absent.key")


# --- the embedded stack ------------------------------------------------------------------


def test_the_embedded_stack_makes_the_key_file_and_hands_its_path_to_the_services(
    tmp_path: Path,
):
    from slipway_devstack import secret_key_env

    env = secret_key_env(tmp_path)

    assert env == {"SLIPWAY_SECRET_KEY_FILE": str(tmp_path / "secret.key")}
    assert stat.S_IMODE((tmp_path / "secret.key").stat().st_mode) == 0o600


def test_the_embedded_stack_leaves_a_key_given_as_a_setting_alone(monkeypatch, tmp_path: Path):
    from slipway_devstack import secret_key_env

    monkeypatch.setenv("SLIPWAY_SECRET_KEY", base64.b64encode(os.urandom(KEY_BYTES)).decode())

    assert secret_key_env(tmp_path) == {}
    assert not (tmp_path / "secret.key").exists()
