"""One credential per principal for the embedded stack's NATS and MongoDB, made once under
the state directory and kept across restarts.

NATS: an NKey seed per principal, `<state>/nats/<principal>.nk` (0600), their public keys in
`<state>/nats/principals.json` (0644), and the server's `authorization` block: each principal
may publish and subscribe only where its work takes it (`nats_permissions`); anonymous
clients are refused. The servers of a cluster join each other's routes with a password of
their own (`<state>/nats/routes.password`, 0600), so no other process can join as a route.

MongoDB: a keyfile `<state>/mongo/keyfile` (0600) turns access control on; the first user,
`admin` (root), is made through the localhost exception, then one user per service with
readWrite on its own database only. Each connection string (every member of the replica set,
its name and `authSource=admin` included) is kept in `<state>/mongo/<user>.uri` (0600).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import nkeys

from slipway_contracts import subjects
from slipway_contracts.access import PRINCIPALS, SERVICE_PRINCIPALS
from slipway_keys.principals import SEED_SUFFIX

HOST = "127.0.0.1"
PRINCIPALS_FILE = "principals.json"
KEYFILE = "keyfile"
ROUTES_PASSWORD = "routes.password"
MONGO_ADMIN = "admin"

# What each worker owns: the entities named in its subjects, events, jobs and progress.
SERVICE_ENTITIES: dict[str, tuple[str, ...]] = {
    "image-builder": (subjects.CONTAINER_IMAGE,),
    "chart-validator": (subjects.HELM_CHART,),
    "cluster-manager": (subjects.MINIKUBE_CLUSTER, subjects.ALERT),  # it owns the alerts
    "workload-manager": (subjects.DEPLOYMENT, subjects.SERVICE, subjects.RELEASE),
}
# The commands and queries a worker sends to the others.
SERVICE_REQUESTS: dict[str, tuple[str, ...]] = {
    "workload-manager": (
        subjects.query(subjects.CONTAINER_IMAGE, "get"),
        subjects.query(subjects.HELM_CHART, "get"),
        subjects.query(subjects.HELM_CHART, "source"),
        subjects.pull_secret(),
        subjects.query(subjects.MINIKUBE_CLUSTER, "get"),
        subjects.query(subjects.MINIKUBE_CLUSTER, "kubeconfig"),
        subjects.command(subjects.MINIKUBE_CLUSTER, "load_image"),
    ),
}
# The durable JetStream consumers each principal reads, by stream.
DURABLE_CONSUMERS: dict[str, dict[str, tuple[str, ...]]] = {
    "image-builder": {subjects.JOBS_STREAM: ("image-builder-build", "image-builder-scan")},
    "chart-validator": {subjects.JOBS_STREAM: ("chart-validator-validate",)},
    "cluster-manager": {subjects.JOBS_STREAM: ("cluster-manager-operate",)},
    "workload-manager": {
        subjects.JOBS_STREAM: (
            "workload-manager-rollout",
            "workload-manager-apply",
            "workload-manager-release",
        ),
        subjects.EVENTS_STREAM: ("workload-manager-projections",),
    },
    "gateway": {
        subjects.AUDIT_STREAM: ("gateway-audit",),
        subjects.EVENTS_STREAM: ("gateway-webhooks",),
    },
}
# Each process's own MongoDB user and the one database it may read and write.
MONGO_DATABASES: dict[str, str] = {
    "image-builder": "slipway_image_builder",
    "chart-validator": "slipway_chart_validator",
    "cluster-manager": "slipway_cluster_manager",
    "workload-manager": "slipway_workload_manager",
    "gateway": "slipway_gateway",
}

# The entities whose events the gateway itself publishes.
GATEWAY_ENTITIES = (subjects.WEBHOOK, subjects.APPROVAL)
SERVICE_EVENT_ENTITIES = tuple(e for entities in SERVICE_ENTITIES.values() for e in entities)
JS_API = "$JS.API"
STREAMS = (subjects.EVENTS_STREAM, subjects.JOBS_STREAM, subjects.AUDIT_STREAM)
# What only the services' own outbox relays, job queues and audit publish.
SERVICE_ONLY = (
    subjects.EVENTS_WILDCARD,
    subjects.JOBS_WILDCARD,
    subjects.AUDIT_WILDCARD,
    subjects.progress("*", ">"),
)
ANY_COMMAND = subjects.command("*", ">")
ANY_QUERY = subjects.query("*", ">")
# Registry passwords: the workload-manager's alone to ask for, no client's, not even admin's.
WORKLOAD_MANAGER_ONLY = (subjects.pull_secret(),)
INBOX = "_INBOX.>"


def write_private(path: Path, data: bytes) -> None:
    """Create `path` with mode 0600 from the start (never readable by others, even briefly)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(data)
    path.chmod(0o600)


# --- NATS -------------------------------------------------------------------------------


def new_seed() -> bytes:
    """A fresh NKey user seed (`SU…`), to keep in a file of mode 0600."""
    seed: bytes = nkeys.encode_seed(os.urandom(32), nkeys.PREFIX_BYTE_USER)
    return seed


def public_key(seed: bytes) -> str:
    """The public key (`U…`) of an NKey user seed: what the NATS server and verifiers know."""
    pair = nkeys.from_seed(bytearray(seed.strip()))
    try:
        return str(pair.public_key.decode())
    finally:
        pair.wipe()


def seed_file(state_dir: Path, principal: str) -> Path:
    return state_dir / "nats" / f"{principal}{SEED_SUFFIX}"


def principals_file(state_dir: Path) -> Path:
    return state_dir / "nats" / PRINCIPALS_FILE


def ensure_nkeys(state_dir: Path, principals: Iterable[str] = PRINCIPALS) -> dict[str, str]:
    """Each principal's seed (made once, 0600) and `principals.json` (0644); returns
    `{principal: public key}`."""
    keys = {}
    for principal in principals:
        path = seed_file(state_dir, principal)
        if not path.exists():
            write_private(path, new_seed() + b"\n")
        path.chmod(0o600)
        keys[principal] = public_key(path.read_bytes())
    listing = principals_file(state_dir)
    listing.write_text(json.dumps(keys, indent=2, sort_keys=True) + "\n")
    listing.chmod(0o644)
    return keys


def _stream_upkeep() -> list[str]:
    """What `ensure_streams` asks of the JetStream API: create or update the three streams."""
    found = [f"{JS_API}.INFO", f"{JS_API}.STREAM.NAMES"]
    for stream in STREAMS:
        found += [f"{JS_API}.STREAM.{verb}.{stream}" for verb in ("INFO", "CREATE", "UPDATE")]
    return found


def _durable(stream: str, durable: str) -> list[str]:
    """Make, inspect and pull from one durable consumer, and acknowledge its messages."""
    return [
        f"{JS_API}.CONSUMER.*.{stream}.{durable}",  # CREATE, INFO, DELETE
        f"{JS_API}.CONSUMER.*.{stream}.{durable}.>",  # CREATE with its filter subject
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.{durable}",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.{durable}",
        f"$JS.ACK.{stream}.{durable}.>",
    ]


def _durables_of(principal: str) -> list[str]:
    consumers = DURABLE_CONSUMERS.get(principal, {})
    return [
        s for stream, names in consumers.items() for name in names for s in _durable(stream, name)
    ]


def _event_reading() -> list[str]:
    """Read SLIPWAY_EVENTS with consumers of one's own: ordered, ephemeral or durable."""
    stream = subjects.EVENTS_STREAM
    return [
        f"{JS_API}.INFO",
        f"{JS_API}.STREAM.NAMES",
        f"{JS_API}.STREAM.INFO.{stream}",
        f"{JS_API}.STREAM.MSG.GET.{stream}",
        f"{JS_API}.DIRECT.GET.{stream}",
        f"{JS_API}.DIRECT.GET.{stream}.>",
        f"{JS_API}.CONSUMER.*.{stream}",  # CREATE (unnamed), LIST, NAMES
        f"{JS_API}.CONSUMER.*.{stream}.>",  # CREATE, INFO, DELETE of a named consumer
        f"{JS_API}.CONSUMER.DURABLE.CREATE.{stream}.>",
        f"{JS_API}.CONSUMER.MSG.NEXT.{stream}.>",
        f"$JS.ACK.{stream}.>",
        "$JS.FC.>",  # flow-control replies of push (ordered) consumers
    ]


def _services_event_consumers(reader: str | None = None) -> list[str]:
    """The durables others own on SLIPWAY_EVENTS (the services', the gateway's webhook
    deliveries): a reader may neither pull from nor delete or redefine them."""
    stream = subjects.EVENTS_STREAM
    owned = [
        name
        for principal, consumers in DURABLE_CONSUMERS.items()
        if principal != reader
        for name in consumers.get(stream, ())
    ]
    return [s for name in owned for s in _durable(stream, name)]


def nats_permissions(principal: str) -> dict[str, Any] | None:
    """The NATS permissions of `principal` (`admin`: anything but the workload-manager's
    registry-password query)."""
    if principal == "admin":
        return {
            "publish": {"allow": [">"], "deny": list(WORKLOAD_MANAGER_ONLY)},
            "subscribe": {"allow": [">"]},
        }
    if principal in SERVICE_PRINCIPALS:
        entities = SERVICE_ENTITIES[principal]
        publish = [
            *(subjects.event(e, ">") for e in entities),
            *(subjects.job(e, ">") for e in entities),
            *(subjects.progress(e, ">") for e in entities),
            subjects.audit(principal),
            *SERVICE_REQUESTS.get(principal, ()),
            *_stream_upkeep(),
            *_durables_of(principal),
        ]
        subscribe = [
            *(subjects.command(e, ">") for e in entities),
            *(subjects.query(e, ">") for e in entities),
            subjects.health(principal),
            INBOX,
        ]
        return {
            "publish": {"allow": publish},
            "subscribe": {"allow": subscribe},
            "allow_responses": True,
        }
    if principal == "gateway":
        # It reads SLIPWAY_EVENTS (server-sent events, webhook deliveries) and publishes
        # the events of its own entities (webhook subscriptions), none of the services'.
        publish = [
            ANY_COMMAND,
            ANY_QUERY,
            subjects.health("*"),
            *(subjects.event(e, ">") for e in GATEWAY_ENTITIES),
            *_stream_upkeep(),
            *_durables_of(principal),
            *_event_reading(),
        ]
        services_events = [subjects.event(e, ">") for e in SERVICE_EVENT_ENTITIES]
        deny = [
            # a command or query subject spelled to look like an event is an event all the same
            subjects.command("events", ">"),
            subjects.query("events", ">"),
            *WORKLOAD_MANAGER_ONLY,
            subjects.JOBS_WILDCARD,
            subjects.AUDIT_WILDCARD,
            subjects.progress("*", ">"),
            *services_events,
            *_services_event_consumers(principal),
        ]
        return {
            "publish": {"allow": publish, "deny": deny},
            "subscribe": {"allow": [INBOX]},
        }
    if principal == "events-reader":
        return {
            "publish": {"allow": _event_reading(), "deny": _services_event_consumers()},
            "subscribe": {"allow": [INBOX]},
        }
    if principal == "integration":
        return {
            "publish": {
                "allow": [ANY_COMMAND, ANY_QUERY, *_event_reading()],
                "deny": [*SERVICE_ONLY, *WORKLOAD_MANAGER_ONLY, *_services_event_consumers()],
            },
            # Live progress of what it asked for (core NATS, never persisted).
            "subscribe": {"allow": [INBOX, subjects.progress("*", ">")]},
        }
    raise ValueError(f"unknown NATS principal {principal!r}")


def authorization_block(public_keys: dict[str, str]) -> str:
    """The nats-server `authorization` block: one NKey user per principal, no anonymous."""
    users = []
    for principal, key in public_keys.items():
        user: dict[str, Any] = {"nkey": key}
        permissions = nats_permissions(principal)
        if permissions is not None:
            user["permissions"] = permissions
        users.append(f"    # {principal}\n    {json.dumps(user)}")
    return "authorization {\n  users = [\n" + ",\n".join(users) + "\n  ]\n}\n"


def route_password(state_dir: Path) -> str:
    """The password the servers of a NATS cluster join each other's routes with (made once)."""
    path = state_dir / "nats" / ROUTES_PASSWORD
    if not path.exists():
        write_private(path, secrets.token_urlsafe(24).encode() + b"\n")
    path.chmod(0o600)
    return path.read_text().strip()


# --- MongoDB ----------------------------------------------------------------------------


def keyfile(state_dir: Path) -> Path:
    """The replica set's keyfile (made once, 0600): with it, mongod requires credentials."""
    path = state_dir / "mongo" / KEYFILE
    if not path.exists():
        write_private(path, base64.b64encode(os.urandom(756)) + b"\n")
    path.chmod(0o600)
    return path


def uri_file(state_dir: Path, user: str) -> Path:
    return state_dir / "mongo" / f"{user}.uri"


def _password(path: Path) -> str:
    """The password kept in connection string file `path`, or a new one."""
    with contextlib.suppress(OSError, ValueError):
        kept = urlsplit(path.read_text().strip()).password
        if kept:
            return unquote(kept)
    return secrets.token_urlsafe(24)


def _keep_uri(path: Path, user: str, password: str, ports: Sequence[int], replica_set: str) -> None:
    hosts = ",".join(f"{HOST}:{port}" for port in ports)
    uri = (
        f"mongodb://{quote(user, safe='')}:{quote(password, safe='')}@{hosts}/"
        f"?replicaSet={replica_set}&authSource=admin"
    )
    write_private(path, uri.encode() + b"\n")


def ensure_mongo_users(state_dir: Path, ports: Sequence[int], replica_set: str) -> None:
    """Make the users on the (initiated) replica set of members `ports`, through its primary:
    `admin` (root) while no user exists (the localhost exception), then one user per service
    with readWrite on its own database. Idempotent: kept passwords stay; a missing user or
    connection string file is made."""
    from pymongo import MongoClient
    from pymongo.errors import OperationFailure

    admin_file = uri_file(state_dir, MONGO_ADMIN)
    admin_password = _password(admin_file)
    # Kept before the user exists: a crash in between leaves the password the next start uses.
    _keep_uri(admin_file, MONGO_ADMIN, admin_password, ports, replica_set)
    members = [f"{HOST}:{port}" for port in ports]
    anonymous: MongoClient[dict[str, Any]] = MongoClient(members, replicaSet=replica_set)
    try:
        with contextlib.suppress(OperationFailure):  # refused once the first user exists
            anonymous.admin.command(
                "createUser",
                MONGO_ADMIN,
                pwd=admin_password,
                roles=[{"role": "root", "db": "admin"}],
            )
    finally:
        anonymous.close()
    admin: MongoClient[dict[str, Any]] = MongoClient(
        members,
        replicaSet=replica_set,
        username=MONGO_ADMIN,
        password=admin_password,
        authSource="admin",
    )
    try:
        try:
            admin.admin.command("ping")
        except OperationFailure as exc:
            raise RuntimeError(
                f"MongoDB refuses the admin credentials kept in {admin_file} ({exc.code}); "
                "restore that file or start from a new state directory"
            ) from None
        for user, database in MONGO_DATABASES.items():
            path = uri_file(state_dir, user)
            password = _password(path)
            _keep_uri(path, user, password, ports, replica_set)
            roles = [{"role": "readWrite", "db": database}]
            exists = admin.admin.command("usersInfo", user)["users"]
            verb = "updateUser" if exists else "createUser"
            admin.admin.command(verb, user, pwd=password, roles=roles)
    finally:
        admin.close()


def process_env(state_dir: Path, principal: str, *, nats: bool, mongo: bool) -> dict[str, str]:
    """The settings that make a process connect as `principal`: its NKey seed and the
    principals file (`nats`), its own MongoDB connection string file (`mongo`)."""
    env = {}
    if nats:
        env["SLIPWAY_NATS_NKEY_FILE"] = str(seed_file(state_dir, principal))
        env["SLIPWAY_NATS_PRINCIPALS_FILE"] = str(principals_file(state_dir))
    if mongo:
        env["SLIPWAY_MONGODB_URI_FILE"] = str(uri_file(state_dir, principal))
    return env
