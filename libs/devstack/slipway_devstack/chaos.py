"""The fault suite (`make chaos`): the HA topology of `make run-ha`, on free loopback ports,
under a steady load sent to both gateways while faults strike, round after round.

Load: simulated clusters registered without a start (steady: `stopped`), Deployments of one
image on the simulated cluster `local` (terminal: `running`), scales of them, builds of
`examples/hello-server` (terminal: `built`). Each request carries an `Idempotency-Key`; a 503
or a lost connection is retried with the same key on the other gateway (as a client behind a
load balancer would), and some accepted creates are sent again to check they return the
same entity.

Faults, each round: kill -9 one NATS server (then start it again); step down the MongoDB
primary; kill -9 the primary (then start it again); kill -9 one replica of every service,
gateways included (the supervisor starts them again).

Checked and reported (printed, and as JSON under `.slipway-ha/chaos/` or `--report`):
- lost: an entity that got a 2xx but does not exist, or never reaches its state in time;
- events published twice, by CloudEvent id or by entity id and `entityversion`, and
  versions of an accepted entity missing from SLIPWAY_EVENTS (read as `events-reader`);
- entities made twice by retries with one Idempotency-Key;
- violations: an answer other than 2xx, 503 with Retry-After, or an expected refusal
  (409/412 of a scale racing a rollout); no answer within the client timeout; a lost
  connection to a gateway that was not being killed; a request not accepted within its
  deadline;
- per fault, the time until both gateways accept writes again, until every event
  committed by then is published, and until the faulted part is back and current.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import random
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from pymongo import MongoClient
from pymongo.errors import PyMongoError
from pymongo.uri_parser import parse_uri

import slipway_devstack as devstack
from slipway_devstack import credentials, ha

log = logging.getLogger("slipway.chaos")
REPORT_DIR = Path(".slipway-ha/chaos")
CLIENT_TIMEOUT_S = 20.0  # the gateway gives up on a service after 10 s (503)
ACCEPT_DEADLINE_S = 120.0  # a request still not accepted then is a violation
RECOVERY_DEADLINE_S = 120.0
SETTLE_DEADLINE_S = 240.0
# A scale may race the rollout of an earlier one or another writer: a refusal, not a fault.
EXPECTED_REFUSALS = {409, 412}
SERVICE_DATABASES = [
    db for user, db in credentials.MONGO_DATABASES.items() if user in devstack.SERVICES
]
# Each process's log level: WARNING keeps the logs of a long run small.
STACK_ENV = {"SLIPWAY_JOB_ACK_WAIT_S": "10", "SLIPWAY_LOG_LEVEL": "WARNING"}


def now() -> float:
    return time.monotonic()


@dataclass
class Tally:
    """Every answer the API gave (by fault in progress) and every violation of the rules."""

    fault: str = "steady"
    answers: Counter[str] = field(default_factory=Counter)
    violations: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, status: int | str) -> None:
        with self.lock:
            self.answers[f"{self.fault}:{status}"] += 1

    def violation(self, kind: str, **details: Any) -> None:
        with self.lock:
            self.violations.append({"kind": kind, "during": self.fault, **details})
        log.warning("VIOLATION %s %s", kind, details)

    def by_status(self) -> dict[str, int]:
        totals: Counter[str] = Counter()
        for key, count in self.answers.items():
            totals[key.rsplit(":", 1)[1]] += count
        return dict(totals)

    def during(self, fault: str) -> dict[str, int]:
        prefix = f"{fault}:"
        return {k[len(prefix) :]: v for k, v in self.answers.items() if k.startswith(prefix)}


class Api:
    """One client thread's connections to every gateway, retrying as a careful client does."""

    def __init__(self, urls: list[str], token: str, tally: Tally, down: set[int]) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.http = [
            httpx.Client(base_url=u, timeout=CLIENT_TIMEOUT_S, headers=headers) for u in urls
        ]
        self.tally = tally
        self.down = down  # gateways being killed: a lost connection to them is expected

    def close(self) -> None:
        for client in self.http:
            client.close()

    def once(self, gateway: int, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        """One request; its answer (None: no answer), tallied and checked against the rules."""
        try:
            response = self.http[gateway].request(method, path, **kwargs)
        except httpx.TimeoutException:
            self.tally.answer("timeout")
            self.tally.violation("no answer within the client timeout", path=path, gateway=gateway)
            return None
        except httpx.TransportError as exc:
            self.tally.answer("connection lost")
            if gateway not in self.down:
                self.tally.violation("connection lost", path=path, gateway=gateway, error=repr(exc))
            return None
        status = response.status_code
        self.tally.answer(status)
        if status == 503 and not response.headers.get("Retry-After"):
            self.tally.violation("503 without Retry-After", path=path, gateway=gateway)
        elif status >= 500 and status != 503:
            self.tally.violation(
                f"HTTP {status}", path=path, gateway=gateway, body=response.text[:300]
            )
        return response

    def send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None = None,
        *,
        key: str | None = None,
        if_match: int | None = None,
        gateway: int = 0,
    ) -> httpx.Response | None:
        """The first answer other than 503, retrying a 503 or a lost connection on the next
        gateway with the same Idempotency-Key; None (a violation) past ACCEPT_DEADLINE_S."""
        headers = {"Idempotency-Key": key} if key else {}
        if if_match is not None:
            headers["If-Match"] = f'"{if_match}"'
        deadline = now() + ACCEPT_DEADLINE_S
        while now() < deadline:
            response = self.once(gateway, method, path, json=body, headers=headers)
            if response is not None and response.status_code != 503:
                return response
            # Back off as Retry-After asks (at most a second here), a little on a lost connection.
            pause = float(response.headers.get("Retry-After", "1")) if response is not None else 0.1
            time.sleep(min(pause, 1.0))
            gateway = (gateway + 1) % len(self.http)
        self.tally.violation("not accepted within the deadline", path=path, key=key)
        return None


@dataclass
class Accepted:
    """An entity the API accepted (2xx), and the state it must reach."""

    kind: str  # the API collection: minikube-clusters, deployments, container-images
    id: str
    name: str
    want: tuple[str, ...]
    replicas: int | None = None  # a Deployment's, after its last accepted scale
    scaled_at: int = 0  # the revision that scale made


class Load:
    """The steady load: `threads` clients, about `rate` requests a second together."""

    def __init__(
        self,
        urls: list[str],
        token: str,
        tally: Tally,
        down: set[int],
        *,
        cluster_id: str,
        image_id: str,
        rate: float,
        threads: int = 4,
    ) -> None:
        self.urls, self.token, self.tally, self.down = urls, token, tally, down
        self.cluster_id, self.image_id = cluster_id, image_id
        self.interval_s = threads / rate
        self.threads = threads
        self.accepted: dict[str, Accepted] = {}
        self.replays = 0
        self.refusals: Counter[str] = Counter()
        self.scales = 0  # accepted
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self._running: list[threading.Thread] = []

    def start(self) -> None:
        for index in range(self.threads):
            thread = threading.Thread(target=self._client, args=(index,), daemon=True)
            thread.start()
            self._running.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self._running:
            thread.join(ACCEPT_DEADLINE_S + CLIENT_TIMEOUT_S)

    def _client(self, index: int) -> None:
        api = Api(self.urls, self.token, self.tally, self.down)
        operations = [self.register_cluster, self.deploy, self.scale, self.build]
        weights = [3, 3, 3, 1]
        rng = random.Random(index)
        try:
            while not self.stopping.is_set():
                started = now()
                operation = rng.choices(operations, weights)[0]
                try:
                    operation(api, rng.randrange(len(self.urls)), rng)
                except Exception:  # a bug of the suite must not stop the load silently
                    log.exception("load operation failed")
                # Pacing (not a wait for a condition): the next request at the next tick.
                self.stopping.wait(max(self.interval_s - (now() - started), 0))
        finally:
            api.close()

    def create(
        self,
        api: Api,
        gateway: int,
        rng: random.Random,
        kind: str,
        body: dict[str, Any],
        want: tuple[str, ...],
    ) -> Accepted | None:
        """POST a new entity; once accepted, maybe send it again with the same key to the
        other gateway, which must answer with the same entity."""
        key = str(uuid.uuid4())
        response = api.send("POST", f"/api/{kind}", body, key=key, gateway=gateway)
        if response is None:
            return None
        if not response.is_success:
            self.tally.violation(
                f"create refused with {response.status_code}", kind=kind, body=response.text[:300]
            )
            return None
        entity = response.json()
        accepted = Accepted(kind, entity["id"], body["name"], want, body.get("replicas"))
        with self.lock:
            self.accepted[accepted.id] = accepted
        if rng.random() < 0.3:
            other = (gateway + 1) % len(self.urls)
            again = api.send("POST", f"/api/{kind}", body, key=key, gateway=other)
            with self.lock:
                self.replays += 1
            if again is not None and (not again.is_success or again.json()["id"] != accepted.id):
                self.tally.violation(
                    "a retry with the same Idempotency-Key did not return the same entity",
                    kind=kind,
                    first=accepted.id,
                    status=again.status_code,
                    body=again.text[:300],
                )
        return accepted

    def register_cluster(self, api: Api, gateway: int, rng: random.Random) -> None:
        name = f"chaos-{uuid.uuid4().hex[:10]}"
        body = {"name": name, "driver": "sim", "cpus": 1, "memory": 512, "disk_size": 1000}
        self.create(api, gateway, rng, "minikube-clusters", body, ("stopped",))

    def deploy(self, api: Api, gateway: int, rng: random.Random) -> None:
        body = {
            "name": f"chaos-{uuid.uuid4().hex[:10]}",
            "namespace": "default",
            "cluster_id": self.cluster_id,
            "image_id": self.image_id,
            "replicas": rng.randint(1, 2),
            "container_port": 8080,
        }
        self.create(api, gateway, rng, "deployments", body, ("running",))

    def build(self, api: Api, gateway: int, rng: random.Random) -> None:
        body = {
            "name": f"chaos/app-{uuid.uuid4().hex[:10]}",
            "tag": "1.0.0",
            "application": "backend",
            "build": {"context": "hello-server"},
        }
        self.create(api, gateway, rng, "container-images", body, ("built",))

    def scale(self, api: Api, gateway: int, rng: random.Random) -> None:
        """Scale a running Deployment (If-Match its revision) to another replica count."""
        with self.lock:
            deployments = [a for a in self.accepted.values() if a.kind == "deployments"]
        if not deployments:
            return
        target = rng.choice(deployments)
        current = api.send("GET", f"/api/deployments/{target.id}", gateway=gateway)
        if current is None or current.status_code != 200 or current.json()["status"] != "running":
            return  # not rolled out yet (a missing one is found by the final check)
        deployment = current.json()
        replicas = 1 + deployment["replicas"] % 3
        response = api.send(
            "POST",
            f"/api/deployments/{target.id}/scale",
            {"replicas": replicas},
            key=str(uuid.uuid4()),
            if_match=deployment["revision"],
            gateway=gateway,
        )
        if response is None:
            return
        if response.is_success:
            revision = response.json()["revision"]
            with self.lock:  # a late answer to an earlier scale does not undo a later one
                self.scales += 1
                if revision > target.scaled_at:
                    target.replicas, target.scaled_at = replicas, revision
        elif response.status_code in EXPECTED_REFUSALS:
            with self.lock:
                self.refusals[str(response.status_code)] += 1
        else:
            self.tally.violation(
                f"scale refused with {response.status_code}", body=response.text[:300]
            )


@dataclass
class FaultResult:
    round: int
    fault: str
    target: str
    writes_back_s: float | None = None  # both gateways accept a write again
    events_flowing_s: float | None = None  # everything committed by then is published
    healed_s: float | None = None  # the faulted part is back and current
    answers: dict[str, int] = field(default_factory=dict)


class Chaos:
    """The HA stack (services supervised in a thread), its load, its faults and the checks."""

    def __init__(self, state_dir: Path, rate: float, dwell_s: float) -> None:
        topology = dataclasses.replace(ha.on_free_ports(), worker_health=True)
        self.stack = devstack.EmbeddedStack(state_dir, topology, STACK_ENV, private_docker=True)
        self.rate = rate
        self.dwell_s = dwell_s
        self.tally = Tally()
        self.down: set[int] = set()
        self.results: list[FaultResult] = []
        self._supervising = threading.Event()
        self._supervisor: threading.Thread | None = None
        self.load: Load | None = None
        self.mongo: MongoClient[dict[str, Any]] | None = None

    # --- the stack --------------------------------------------------------------------

    def start(self) -> None:
        self.stack.start()
        self._supervisor = threading.Thread(target=self._supervise, daemon=True)
        self._supervisor.start()
        admin_uri = credentials.uri_file(self.stack.state_dir, credentials.MONGO_ADMIN)
        self.mongo = MongoClient(admin_uri.read_text().strip(), serverSelectionTimeoutMS=2000)

    def _supervise(self) -> None:
        while not self._supervising.wait(0.5):  # the supervisor's round, as `make run-ha`'s
            self.stack.restart_exited()

    def stop(self) -> None:
        self._supervising.set()
        if self._supervisor is not None:
            self._supervisor.join()
        if self.mongo is not None:
            self.mongo.close()
        self.stack.stop()

    @property
    def urls(self) -> list[str]:
        return self.stack.topology.base_urls

    @property
    def token(self) -> str:
        token = devstack.admin_token(self.stack.state_dir)
        if token is None:
            raise RuntimeError("the gateway has made no admin token")
        return token

    def api(self) -> Api:
        return Api(self.urls, self.token, self.tally, self.down)

    # --- before the load ----------------------------------------------------------------

    def prepare(self) -> tuple[str, str]:
        """The id of the running cluster `local` and of the image the Deployments run."""
        api = self.api()
        try:
            body = {
                "name": "chaos/base",
                "tag": "1.0.0",
                "application": "backend",
                "build": {"context": "hello-server"},
            }
            created = api.send("POST", "/api/container-images", body, key=str(uuid.uuid4()))
            if created is None or not created.is_success:
                raise RuntimeError(f"could not build the image: {created and created.text}")
            image = self.wait_entity(
                api, f"/api/container-images/{created.json()['id']}", {"built"}
            )

            def local() -> str | None:
                response = api.send("GET", "/api/minikube-clusters?limit=500")
                items = response.json()["items"] if response and response.is_success else []
                found = [c for c in items if c["name"] == "local" and c["status"] == "running"]
                return found[0]["id"] if found else None

            cluster_id = poll(local, 120, "cluster 'local' running")
            return cluster_id, image["id"]
        finally:
            api.close()

    @staticmethod
    def wait_entity(api: Api, path: str, statuses: set[str], timeout_s: float = 120) -> Any:
        def reached() -> Any:
            response = api.send("GET", path)
            body = response.json() if response is not None and response.is_success else None
            return body if body and body["status"] in statuses else None

        return poll(reached, timeout_s, f"{path} in {sorted(statuses)}")

    # --- recovery -----------------------------------------------------------------------

    def recovery(self, result: FaultResult, struck: float) -> None:
        """Probe until both gateways accept a write, then until every outbox row committed by
        then is published; the times since `struck` go into `result`."""
        api = self.api()
        try:
            deadline = struck + RECOVERY_DEADLINE_S
            accepted = [False] * len(self.urls)
            while not all(accepted) and now() < deadline:
                for gateway, done in enumerate(accepted):
                    if not done:
                        accepted[gateway] = self._probe_write(api, gateway)
                if not all(accepted):
                    time.sleep(0.2)  # probe interval
            if not all(accepted):
                self.tally.violation("writes did not come back", fault=result.fault)
                return
            written = datetime.now(UTC)
            result.writes_back_s = round(now() - struck, 2)
            remaining = max(deadline - now(), 1)
            if poll(lambda: self.outbox_drained(written), remaining, "outbox drained", fail=False):
                result.events_flowing_s = round(now() - struck, 2)
            else:
                self.tally.violation("events did not flow again", fault=result.fault)
        finally:
            api.close()

    def _probe_write(self, api: Api, gateway: int) -> bool:
        name = f"probe-{uuid.uuid4().hex[:10]}"
        body = {"name": name, "driver": "sim", "cpus": 1, "memory": 512, "disk_size": 1000}
        response = api.once(
            gateway,
            "POST",
            "/api/minikube-clusters",
            json=body,
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        if response is None or not response.is_success:
            return False
        assert self.load is not None
        entity = response.json()
        with self.load.lock:
            self.load.accepted[entity["id"]] = Accepted(
                "minikube-clusters", entity["id"], name, ("stopped",)
            )
        return True

    def outbox_drained(self, before: datetime) -> bool:
        """Whether every service's outbox rows committed before `before` are published."""
        assert self.mongo is not None
        try:
            return all(
                self.mongo[db].outbox.count_documents(
                    {"published_at": None, "created_at": {"$lte": before}}, limit=1
                )
                == 0
                for db in SERVICE_DATABASES
            )
        except PyMongoError:
            return False

    @contextlib.contextmanager
    def fault(self, round_: int, name: str, target: str) -> Iterator[FaultResult]:
        result = FaultResult(round_, name, target)
        label = f"round {round_} {name}"
        self.tally.fault = label
        started = now()
        try:
            yield result
        finally:
            self.tally.fault = "steady"
            result.answers = self.tally.during(label)
            self.results.append(result)
            log.info(
                "round %d  %-22s %-14s writes back %6s s  events flowing %6s s  healed %6s s  "
                "(%.0f s) answers %s",
                round_,
                name,
                target,
                result.writes_back_s,
                result.events_flowing_s,
                result.healed_s,
                now() - started,
                result.answers,
            )

    def steady(self) -> None:
        """A few seconds of load with no fault, between two faults (pacing, not a wait)."""
        time.sleep(self.dwell_s / 2)

    def dwell(self, struck: float) -> None:
        """Keep the fault for at least `dwell_s` (the load runs against it meanwhile)."""
        time.sleep(max(self.dwell_s - (now() - struck), 0))

    # --- the faults ---------------------------------------------------------------------

    def kill_nats_server(self, round_: int) -> None:
        topology = self.stack.topology
        index = round_ % len(self.stack.nats)
        process = self.stack.nats[index]
        node = devstack.nats_cluster_nodes(topology.nats_route_ports, topology.nats_monitor_ports)[
            index
        ]
        with self.fault(round_, "kill -9 NATS server", process.name) as result:
            struck = now()
            process.kill()
            self.recovery(result, struck)
            self.dwell(struck)
            process.start()
            if poll(lambda: devstack.nats_current(node), 90, "NATS server back", fail=False):
                result.healed_s = round(now() - struck, 2)

    def step_down_primary(self, round_: int) -> None:
        ports = self.stack.topology.mongo_ports
        primary = poll(lambda: devstack.primary_port(ports), 60, "a MongoDB primary")
        with self.fault(round_, "step down primary", f"mongod:{primary}") as result:
            struck = now()
            with self.member(primary) as client, contextlib.suppress(PyMongoError):
                client.admin.command("replSetStepDown", 10)
            self.recovery(result, struck)
            if poll(lambda: devstack.primary_port(ports), 60, "a primary", fail=False):
                result.healed_s = round(now() - struck, 2)

    def kill_primary(self, round_: int) -> None:
        ports = self.stack.topology.mongo_ports
        primary = poll(lambda: devstack.primary_port(ports), 60, "a MongoDB primary")
        process = self.stack.mongods[ports.index(primary)]
        with self.fault(round_, "kill -9 primary", process.name) as result:
            struck = now()
            process.kill()
            self.recovery(result, struck)
            self.dwell(struck)
            process.start()
            if poll(lambda: self.member_current(primary), 90, "mongod back", fail=False):
                result.healed_s = round(now() - struck, 2)

    def kill_service_replicas(self, round_: int) -> None:
        index = round_ % self.stack.topology.replicas
        killed = [replicas[index] for replicas in self.stack.workers.values()]
        gateway = round_ % len(self.stack.gateways)
        killed.append(self.stack.gateways[gateway])
        with self.fault(
            round_, "kill -9 a replica each", f"#{index + 1}, gateway #{gateway + 1}"
        ) as result:
            self.down.add(gateway)
            struck = now()
            try:
                for process in killed:
                    process.kill()  # the supervisor starts it again
                self.recovery(result, struck)
                if poll(
                    lambda: all(self.service_current(p) for p in killed),
                    120,
                    "replicas back",
                    fail=False,
                ):
                    result.healed_s = round(now() - struck, 2)
            finally:
                self.down.discard(gateway)

    def service_current(self, process: devstack.ManagedProcess) -> bool:
        if not process.alive:
            return False
        if "SLIPWAY_HEALTH_PORT" in process.env:
            return devstack.http_ok(
                f"http://{devstack.HOST}:{process.env['SLIPWAY_HEALTH_PORT']}/healthz"
            )
        return devstack.http_ok(f"http://{devstack.HOST}:{process.env['SLIPWAY_PORT']}/readyz")

    @contextlib.contextmanager
    def member(self, port: int) -> Iterator[MongoClient[dict[str, Any]]]:
        """An admin connection to one member of the replica set."""
        uri = credentials.uri_file(self.stack.state_dir, credentials.MONGO_ADMIN).read_text()
        parsed = parse_uri(uri.strip())
        client: MongoClient[dict[str, Any]] = MongoClient(
            devstack.HOST,
            port,
            directConnection=True,
            username=parsed["username"],
            password=parsed["password"],
            authSource="admin",
            serverSelectionTimeoutMS=2000,
        )
        try:
            yield client
        finally:
            client.close()

    def member_current(self, port: int) -> bool:
        """Whether a member is back as primary or secondary."""
        try:
            with self.member(port) as client:
                hello = client.admin.command("hello")
                return bool(hello.get("isWritablePrimary") or hello.get("secondary"))
        except PyMongoError:
            return False

    # --- the run ------------------------------------------------------------------------

    def run(self, rounds: int) -> dict[str, Any]:
        started = datetime.now(UTC)
        cluster_id, image_id = self.prepare()
        self.load = Load(
            self.urls,
            self.token,
            self.tally,
            self.down,
            cluster_id=cluster_id,
            image_id=image_id,
            rate=self.rate,
        )
        self.load.start()
        try:
            for round_ in range(1, rounds + 1):
                for strike in (
                    self.kill_nats_server,
                    self.step_down_primary,
                    self.kill_primary,
                    self.kill_service_replicas,
                ):
                    strike(round_)
                    self.steady()
        finally:
            self.load.stop()
        settled = self.settle()
        events = self.check_events(settled)
        return self.report(started, rounds, settled, events)

    def settle(self) -> dict[str, Any]:
        """Wait for every accepted entity to reach its state; what is missing or stuck."""
        assert self.load is not None
        api = self.api()
        accepted = dict(self.load.accepted)
        seen: dict[str, dict[str, Any]] = {}
        try:

            def done() -> bool:
                seen.clear()
                try:
                    for kind in {a.kind for a in accepted.values()}:
                        seen.update((e["id"], e) for e in self.list_all(api, kind))
                except RuntimeError:
                    return False
                return all(self.reached(a, seen.get(a.id)) for a in accepted.values())

            poll(done, SETTLE_DEADLINE_S, "every accepted entity settled", fail=False)
        finally:
            api.close()
        missing = [a.id for a in accepted.values() if a.id not in seen]
        stuck = [
            {"id": a.id, "kind": a.kind, "status": seen[a.id]["status"], "want": a.want}
            for a in accepted.values()
            if a.id in seen and not self.reached(a, seen[a.id])
        ]
        ours = {a.name for a in accepted.values()}
        names = Counter((e.get("name"), kind_of(e)) for e in seen.values() if e.get("name") in ours)
        return {
            "accepted": accepted,
            "seen": seen,
            "missing": missing,
            "stuck": stuck,
            "duplicate_entities": [list(k) for k, n in names.items() if n > 1],
            "final_statuses": dict(
                Counter(
                    f"{a.kind}:{seen[a.id]['status']}" for a in accepted.values() if a.id in seen
                )
            ),
        }

    @staticmethod
    def reached(accepted: Accepted, entity: dict[str, Any] | None) -> bool:
        if entity is None or entity["status"] not in accepted.want:
            return False
        return accepted.replicas is None or entity.get("replicas") == accepted.replicas

    @staticmethod
    def list_all(api: Api, kind: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            path = f"/api/{kind}?limit=500" + (f"&cursor={cursor}" if cursor else "")
            response = api.send("GET", path)
            if response is None or not response.is_success:
                raise RuntimeError(f"cannot list {kind}: {response and response.text}")
            page = response.json()
            items += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                return items

    def check_events(self, settled: dict[str, Any]) -> dict[str, Any]:
        """SLIPWAY_EVENTS read whole as `events-reader`: duplicates and missing versions."""
        events = asyncio.run(read_all_events(self.stack.topology.nats_url, self.stack.state_dir))
        by_id = Counter(e.get("id") for e in events)
        by_version = Counter((e.get("subject"), e.get("entityversion")) for e in events)
        versions: dict[str, set[int]] = {}
        for event in events:
            versions.setdefault(event.get("subject"), set()).add(event.get("entityversion"))
        missing = []
        for entity_id in settled["accepted"]:
            entity = settled["seen"].get(entity_id)
            if entity is None:
                continue
            have = versions.get(entity_id, set())
            lacking = sorted(set(range(1, entity["revision"] + 1)) - have)
            if lacking:
                missing.append(
                    {"id": entity_id, "revision": entity["revision"], "missing": lacking}
                )
        return {
            "total": len(events),
            "duplicate_ids": sorted(i for i, n in by_id.items() if n > 1),
            "duplicate_versions": [list(k) for k, n in by_version.items() if n > 1],
            "missing_versions": missing,
        }

    def report(
        self, started: datetime, rounds: int, settled: dict[str, Any], events: dict[str, Any]
    ) -> dict[str, Any]:
        assert self.load is not None
        lost = len(settled["missing"]) + len(settled["stuck"])
        duplicated = (
            len(events["duplicate_ids"])
            + len(events["duplicate_versions"])
            + len(settled["duplicate_entities"])
        )
        accepted = settled["accepted"]
        report: dict[str, Any] = {
            "started": started.isoformat(),
            "finished": datetime.now(UTC).isoformat(),
            "rounds": rounds,
            "topology": dataclasses.asdict(self.stack.topology),
            "lost": lost,
            "duplicated": duplicated,
            "violations": len(self.tally.violations),
            "ok": lost == 0
            and duplicated == 0
            and not self.tally.violations
            and not events["missing_versions"],
            "accepted": dict(Counter(a.kind for a in accepted.values())),
            "scales_accepted": self.load.scales,
            "final_statuses": settled["final_statuses"],
            "idempotent_replays": self.load.replays,
            "expected_refusals": dict(self.load.refusals),
            "answers": self.tally.by_status(),
            "events": {
                "total": events["total"],
                "duplicate_ids": events["duplicate_ids"],
                "duplicate_versions": events["duplicate_versions"],
                "missing_versions": events["missing_versions"],
            },
            "missing_entities": settled["missing"],
            "stuck_entities": settled["stuck"],
            "duplicate_entities": settled["duplicate_entities"],
            "faults": [dataclasses.asdict(r) for r in self.results],
            "recovery": summary(self.results),
            "violation_details": self.tally.violations,
        }
        return report


def kind_of(entity: dict[str, Any]) -> str:
    """Which collection an entity listed belongs to (by a field only it has)."""
    if "driver" in entity:
        return "minikube-clusters"
    if "container_port" in entity:
        return "deployments"
    return "container-images"


async def read_all_events(nats_url: str, state_dir: Path) -> list[dict[str, Any]]:
    """Every event in SLIPWAY_EVENTS, as the `events-reader` principal."""
    import nats
    from nats.js.api import ConsumerConfig, DeliverPolicy

    from slipway_contracts import subjects

    seed = credentials.seed_file(state_dir, "events-reader")
    nc = await nats.connect(servers=nats_url.split(","), nkeys_seed=str(seed))
    events: list[dict[str, Any]] = []
    try:
        subscription = await nc.jetstream().pull_subscribe(
            subjects.EVENTS_WILDCARD,
            durable=None,
            stream=subjects.EVENTS_STREAM,
            config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL),
        )
        while True:
            try:
                messages = await subscription.fetch(500, timeout=2)
            except (TimeoutError, nats.errors.TimeoutError):
                return events
            for message in messages:
                events.append(json.loads(message.data))
                await message.ack()
    finally:
        await nc.close()


def summary(results: list[FaultResult]) -> dict[str, dict[str, float | None]]:
    """Per fault: the worst and the median of each recovery time."""
    out: dict[str, dict[str, float | None]] = {}
    for name in dict.fromkeys(r.fault for r in results):
        for measure in ("writes_back_s", "events_flowing_s", "healed_s"):
            values = sorted(
                v for r in results if r.fault == name if (v := getattr(r, measure)) is not None
            )
            out.setdefault(name, {})[f"{measure}_median"] = (
                values[len(values) // 2] if values else None
            )
            out[name][f"{measure}_max"] = values[-1] if values else None
    return out


def poll(check: Callable[[], Any], timeout_s: float, what: str, *, fail: bool = True) -> Any:
    """Call `check` until it returns something truthy (returned) or `timeout_s` passes
    (then TimeoutError, or None when not `fail`)."""
    deadline = now() + timeout_s
    while True:
        found = check()
        if found:
            return found
        if now() > deadline:
            if fail:
                raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
            return None
        time.sleep(0.2)


def print_report(report: dict[str, Any], path: Path | None) -> None:
    accepted, events = report["accepted"], report["events"]
    lines = [
        f"fault suite: {report['rounds']} rounds, {sum(accepted.values())} entities accepted "
        f"{accepted}, {report['scales_accepted']} scales",
        f"  lost {report['lost']}, duplicated {report['duplicated']}, "
        f"violations {report['violations']}; {events['total']} events, "
        f"{len(events['missing_versions'])} entities missing a version",
        f"  answers {report['answers']}; idempotent replays {report['idempotent_replays']}; "
        f"expected refusals {report['expected_refusals']}",
        "  recovery in seconds (median / max): writes back, events flowing, healed",
    ]
    for fault, figures in report["recovery"].items():
        measures = ("writes_back_s", "events_flowing_s", "healed_s")
        shown = [f"{figures[f'{m}_median']} / {figures[f'{m}_max']}" for m in measures]
        lines.append(f"    {fault:24} " + ", ".join(shown))
    lines.append(("  OK" if report["ok"] else "  FAILED") + (f"; report: {path}" if path else ""))
    print("\n" + "\n".join(lines))


def run(
    rounds: int,
    *,
    state_dir: Path | None = None,
    report_path: Path | None = None,
    rate: float = 3.0,
    dwell_s: float = 5.0,
    keep: bool = False,
) -> dict[str, Any]:
    """Start the HA stack, run `rounds` rounds of faults under load, stop it; the report
    (written to `report_path`). The state is removed unless `keep` or the run failed."""
    own_state = state_dir is None
    state = Path(tempfile.mkdtemp(prefix="slipway-chaos-")) if state_dir is None else state_dir
    chaos = Chaos(state, rate, dwell_s)
    report: dict[str, Any] = {"ok": False}
    try:
        log.info("starting the HA stack under %s", state)
        chaos.start()
        report = chaos.run(rounds)
    finally:
        chaos.stop()
        if report_path is not None:
            report_path.parent.mkdir(parents=True, exist_ok=True)
            report_path.write_text(json.dumps(report, indent=2, default=str) + "\n")
        if own_state and report.get("ok") and not keep:
            shutil.rmtree(state, ignore_errors=True)
        elif own_state:
            log.info("state and logs kept in %s", state)
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description="Slipway's fault suite on its HA topology")
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--rate", type=float, default=3.0, help="requests a second (all clients)")
    parser.add_argument("--dwell", type=float, default=5.0, help="seconds a server stays down")
    parser.add_argument("--report", type=Path, default=None, help="the JSON report's path")
    parser.add_argument("--state-dir", type=Path, default=None, help="default: a temporary one")
    parser.add_argument("--keep", action="store_true", help="keep the state and logs")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not a line per request
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = args.report or REPORT_DIR / f"{stamp}.json"
    report = run(
        args.rounds,
        state_dir=args.state_dir,
        report_path=path,
        rate=args.rate,
        dwell_s=args.dwell,
        keep=args.keep,
    )
    print_report(report, path)
    sys.exit(0 if report.get("ok") else 1)


if __name__ == "__main__":
    main()
