"""Where the API is, who the caller is, and the API's problems as CLI errors.

Configuration precedence: `--url`/`--token` flags, then `SLIPWAY_URL`/`SLIPWAY_TOKEN`, then
the embedded stack's admin token (`.slipway/admin.token` under the current directory, then
under `SLIPWAY_STATE_DIR`)."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import typer

DEFAULT_URL = "http://127.0.0.1:8080"
TOKEN_FILE = "admin.token"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@dataclass(frozen=True)
class Config:
    url: str
    token: str | None


def admin_token_files(cwd: Path, env: Mapping[str, str]) -> list[Path]:
    """Where the embedded stack's admin token may be, in the order they are tried."""
    files = [cwd / ".slipway" / TOKEN_FILE]
    if state_dir := env.get("SLIPWAY_STATE_DIR"):
        files.append(Path(state_dir) / TOKEN_FILE)
    return files


def resolve_config(url: str | None, token: str | None, env: Mapping[str, str], cwd: Path) -> Config:
    """The flags win, then the environment, then the embedded stack's admin token."""
    token = token or env.get("SLIPWAY_TOKEN") or None
    if token is None:
        readable = (f for f in admin_token_files(cwd, env) if f.is_file())
        token = next((f.read_text().strip() for f in readable), None)
    return Config(url=(url or env.get("SLIPWAY_URL") or DEFAULT_URL).rstrip("/"), token=token)


class CliError(Exception):
    """What ends a command with exit status 1; `main.Slipway` prints it on stderr."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def lines(self) -> list[str]:
        return [f"Error: {self.message}"]


class ApiError(CliError):
    """An API answer other than 2xx: its problem's detail and per-field errors."""

    def __init__(self, status: int, detail: str, errors: list[dict[str, Any]] | None = None):
        super().__init__(detail)
        self.status = status
        self.errors = errors or []

    def lines(self) -> list[str]:
        fields = [f"  {e.get('field', '?')}: {e.get('message', '')}" for e in self.errors]
        heading = f"Error ({self.status})" if self.status else "Error"
        return [f"{heading}: {self.message}", *fields]


class Failed(CliError):
    """An operation that ended badly (a failed build, an invalid chart, a deadline)."""


def problem_of(response: httpx.Response) -> ApiError:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return ApiError(response.status_code, response.text.strip() or response.reason_phrase)
    detail = body.get("detail") or body.get("title") or response.reason_phrase
    return ApiError(response.status_code, str(detail), body.get("errors"))


@dataclass(frozen=True)
class ServerSentEvent:
    id: str | None
    event: str | None
    data: str


def server_sent_events(lines: Iterable[str]) -> Iterator[ServerSentEvent]:
    """The events of a `text/event-stream`, given line by line (comments skipped)."""
    event_id, event, data = None, None, list[str]()
    for line in lines:
        if not line:
            if data:
                yield ServerSentEvent(event_id, event, "\n".join(data))
            event, data = None, []  # the id stays, as in a browser's EventSource
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
        elif name == "id":
            event_id = value


# A stream broken this many times in a row (nothing received in between) is given up.
RECONNECTS = 10
RECONNECT_WAIT_S = 1.0


class Api:
    """The REST API: JSON in and out; an error answer raises `ApiError`."""

    def __init__(
        self,
        config: Config,
        transport: httpx.BaseTransport | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        headers = {"User-Agent": "slipway-cli"}
        if config.token:
            headers["Authorization"] = f"Bearer {config.token}"
        self.http = httpx.Client(
            base_url=config.url, headers=headers, timeout=30, transport=transport
        )
        self.sleep = sleep

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise ApiError(0, f"cannot reach Slipway at {self.http.base_url}: {exc}") from exc
        if response.is_error:
            raise problem_of(response)
        return response

    def events(
        self,
        path: str,
        params: Mapping[str, Any] | None = None,
        last_id: str | None = None,
        ends: bool = False,
    ) -> Iterator[ServerSentEvent]:
        """The server-sent events of `path`, across broken connections: each reconnect
        resumes with `Last-Event-ID` after the last event received, so none is lost or
        repeated. The server ending the stream is its end when `ends` (else a reconnect);
        a caller stops early by leaving the loop. An error answer raises `ApiError`."""
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        failures = 0
        while True:
            headers = {"Accept": "text/event-stream"}
            if last_id is not None:
                headers["Last-Event-ID"] = last_id
            try:
                timeout = httpx.Timeout(30, read=None)  # quiet streams carry heartbeats
                with self.http.stream(
                    "GET", path, params=clean, headers=headers, timeout=timeout
                ) as response:
                    if response.is_error:
                        response.read()
                        raise problem_of(response)
                    for event in server_sent_events(response.iter_lines()):
                        failures = 0
                        last_id = event.id if event.id is not None else last_id
                        yield event
                if ends:
                    return
                reason = "the server ended it"
            except httpx.TransportError as exc:
                reason = str(exc) or type(exc).__name__
            failures += 1
            if failures >= RECONNECTS:
                raise ApiError(0, f"lost the stream from {self.http.base_url}: {reason}")
            self.sleep(RECONNECT_WAIT_S)

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean).json()

    def text(self, path: str) -> str:
        return self.request("GET", path).text

    def post(self, path: str, body: Any = None) -> Any:
        response = self.request("POST", path, json=body)
        return response.json() if response.content else None

    def delete(self, path: str, **params: Any) -> None:
        self.request("DELETE", path, params={k: v for k, v in params.items() if v is not None})

    def items(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a list, page after page."""
        cursor = None
        while True:
            page = self.get(path, limit=500, cursor=cursor, **params)
            yield from page["items"]
            if not (cursor := page.get("next_cursor")):
                return

    def find(self, path: str, ref: str, label: str) -> dict[str, Any]:
        """An entity by id, or by name (`name:tag` for images) when that names one."""
        if UUID.match(ref):
            return dict(self.get(f"{path}/{ref}"))
        found = [item for item in self.items(path) if ref in names_of(item)]
        if not found:
            raise ApiError(404, f"no {label} named {ref!r}")
        if len(found) > 1:
            ids = ", ".join(item["id"] for item in found)
            raise ApiError(409, f"{len(found)} {label}s are named {ref!r}; give an id ({ids})")
        return found[0]


def names_of(item: dict[str, Any]) -> set[str]:
    names = {item.get("name", "")}
    if "tag" in item:
        names.add(f"{item['name']}:{item['tag']}")
    return names


def api(ctx: typer.Context) -> Api:
    """The API client of this invocation (made from the global options)."""
    root = ctx.find_root()
    if not isinstance(root.obj, Api):
        root.obj = Api(config_of(ctx))
    return root.obj


def config_of(ctx: typer.Context) -> Config:
    """Where the API is and the token, from the global options and the environment."""
    root = ctx.find_root()
    return resolve_config(root.params.get("url"), root.params.get("token"), os.environ, Path.cwd())
