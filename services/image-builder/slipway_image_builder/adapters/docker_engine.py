"""The Docker Engine through the `docker` SDK: build (no network), inspect, push, remove."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

import docker
from docker.errors import APIError, DockerException, ImageNotFound
from requests.exceptions import ConnectionError as RequestsConnectionError

from slipway_image_builder.domain.image import BuildResult
from slipway_image_builder.domain.ports import OnLine, RegistryLogin
from slipway_libs.errors import PermanentError, RetryableError
from slipway_observability import tracing


def repo_digest_of(reference: str, repo_digests: list[str]) -> str | None:
    """The digest among `repo_digests` (`repo@sha256:…`) of the repository of `reference`
    (`repo[:tag]`; Docker Hub's `library/` and `docker.io/` prefixes are the same)."""

    def repository(name: str) -> str:
        name = name.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
        for prefix in ("docker.io/", "library/"):
            name = name.removeprefix(prefix)
        return name

    wanted = repository(reference)
    for item in repo_digests:
        repo, _, digest = item.partition("@")
        if repository(repo) == wanted and digest:
            return digest
    return None


class DockerEngine:
    """The `Engine` port on the Docker Engine. Blocking SDK calls run in worker threads so
    the event loop keeps serving."""

    def __init__(self, base_url: str | None = None, build_timeout_s: float = 900) -> None:
        self.base_url = base_url
        self.build_timeout_s = build_timeout_s
        self._client: docker.DockerClient | None = None

    def _docker(self) -> docker.DockerClient:
        if self._client is None:
            try:
                if self.base_url:
                    self._client = docker.DockerClient(
                        base_url=self.base_url, timeout=int(self.build_timeout_s)
                    )
                else:
                    self._client = docker.from_env(timeout=int(self.build_timeout_s))
            except DockerException as exc:
                raise RetryableError(f"Docker Engine is unreachable: {exc}") from exc
        return self._client

    async def build(
        self,
        *,
        reference: str,
        context: Path,
        dockerfile: str,
        args: dict[str, str],
        on_line: OnLine,
    ) -> BuildResult:
        """Build `context` into `reference` with no network; stream log lines to `on_line`."""
        with tracing.span("docker build", **{"container.image.name": reference}):
            return await asyncio.to_thread(
                self._build_blocking, reference, context, dockerfile, args, on_line
            )

    def _build_blocking(
        self, reference: str, context: Path, dockerfile: str, args: dict[str, str], on_line: OnLine
    ) -> BuildResult:
        step = "the build"
        try:
            stream = self._docker().api.build(
                path=str(context),
                dockerfile=dockerfile,
                tag=reference,
                buildargs=args,
                network_mode="none",
                rm=True,
                forcerm=True,
                pull=False,
                decode=True,
            )
            for chunk in stream:
                if "stream" in chunk:
                    for line in str(chunk["stream"]).splitlines():
                        if line.strip():
                            on_line(line)
                            if line.startswith("Step "):
                                step = line.strip()
                if "error" in chunk:
                    message = str(chunk.get("errorDetail", {}).get("message") or chunk["error"])
                    on_line(f"ERROR: {message.strip()}")
                    raise PermanentError(f"{step} failed: {message.strip()}")
        except (RequestsConnectionError, ConnectionError) as exc:
            raise RetryableError(f"Docker Engine is unreachable: {exc}") from exc
        except APIError as exc:
            if (
                exc.status_code is not None
                and exc.status_code >= 500
                and "Cannot locate" not in str(exc)
            ):
                reason = exc.explanation or str(exc)
                on_line(f"ERROR: {reason}")
                raise PermanentError(f"{step} failed: {reason}") from exc
            raise PermanentError(f"the engine refused the build: {exc.explanation or exc}") from exc
        return self._inspect_blocking(reference)

    def _inspect_blocking(self, reference: str) -> BuildResult:
        attrs = self._docker().api.inspect_image(reference)
        repo_digests = attrs.get("RepoDigests") or []
        return BuildResult(
            image_id=str(attrs["Id"]),
            size=int(attrs["Size"]),
            digest=str(repo_digests[0].split("@", 1)[1]) if repo_digests else str(attrs["Id"]),
            user=str(attrs.get("Config", {}).get("User") or ""),
        )

    async def push(
        self,
        reference: str,
        repository: str,
        tag: str,
        on_line: OnLine,
        auth: RegistryLogin | None = None,
    ) -> str:
        """Tag and push to `repository` (with `auth`, when given); returns the pushed digest.
        A loopback registry (127.0.0.1:<port>) needs no TLS: the engine allows it insecure."""

        def push_blocking() -> str:
            client = self._docker()
            client.api.tag(reference, repository, tag)
            digest = ""
            login = {"username": auth.username, "password": auth.password} if auth else None
            pushed = client.api.push(
                repository, tag=tag, stream=True, decode=True, auth_config=login
            )
            for chunk in pushed:
                if "error" in chunk:
                    raise PermanentError(f"push to {repository}:{tag} failed: {chunk['error']}")
                if status := chunk.get("status"):
                    on_line(f"push: {status}")
                if aux := chunk.get("aux"):
                    digest = str(aux.get("Digest", digest))
            return digest

        try:
            with tracing.span("docker push", **{"container.image.name": f"{repository}:{tag}"}):
                return await asyncio.to_thread(push_blocking)
        except (RequestsConnectionError, ConnectionError) as exc:
            raise RetryableError(f"Docker Engine is unreachable: {exc}") from exc

    async def save(self, reference: str, destination: Path) -> None:
        """Write the image as a `docker save` tar to `destination` (for a scanner)."""

        def save_blocking() -> None:
            try:
                chunks = self._docker().api.get_image(reference)
                with destination.open("wb") as out:
                    for chunk in chunks:
                        out.write(chunk)
            except ImageNotFound as exc:
                raise PermanentError(f"image {reference} is not in the Docker Engine") from exc

        try:
            with tracing.span("docker save", **{"container.image.name": reference}):
                await asyncio.to_thread(save_blocking)
        except (RequestsConnectionError, ConnectionError) as exc:
            raise RetryableError(f"Docker Engine is unreachable: {exc}") from exc
        except APIError as exc:
            raise RetryableError(f"the engine did not export {reference}: {exc}") from exc

    async def exists(self, reference: str, image_id: str) -> bool:
        """Whether `reference` (name:tag) still names the image `image_id` in the engine
        (RetryableError if it cannot tell). A removed or re-pointed tag counts as gone:
        deployments pull by reference, not by id."""

        def exists_blocking() -> bool:
            try:
                found = self._docker().api.inspect_image(reference)
            except ImageNotFound:
                return False
            return bool(found.get("Id") == image_id)

        try:
            return await asyncio.to_thread(exists_blocking)
        except (RequestsConnectionError, ConnectionError, DockerException) as exc:
            raise RetryableError(f"Docker Engine is unreachable: {exc}") from exc

    async def repo_digest(self, reference: str) -> str | None:
        """The repository digest (`sha256:…`) the engine knows for `reference`, from a pull
        or a push of that repository; None when it has none (a local build, an import) or
        does not have the image."""

        def digest_blocking() -> str | None:
            try:
                found = self._docker().api.inspect_image(reference)
            except ImageNotFound:
                return None
            return repo_digest_of(reference, found.get("RepoDigests") or [])

        try:
            return await asyncio.to_thread(digest_blocking)
        except (RequestsConnectionError, ConnectionError, DockerException) as exc:
            raise RetryableError(f"Docker Engine is unreachable: {exc}") from exc

    async def remove(self, reference: str) -> None:
        """Remove an image from the engine; one that is already gone is fine."""

        def remove_blocking() -> None:
            with contextlib.suppress(ImageNotFound):
                self._docker().api.remove_image(reference, force=True)

        await asyncio.to_thread(remove_blocking)
