"""Dockerfile advice (Gordon's role), free of I/O: Slipway's own rules on a Dockerfile's
text, a proposed Dockerfile with what can be fixed offline fixed, and, for a context with
no Dockerfile, a proposal for the kind of project its files show.

The rules: a multi-stage build when the image compiles or installs anything, a non-root
`USER`, base images pinned by digest, a `.dockerignore`, dependency manifests copied and
installed before the source (layer caching), and no secrets in `ARG` or `ENV`. A secret's
value is never repeated anywhere: findings name the variable and the line, and the
proposal drops it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from slipway_contracts.advice import DockerfileFinding, FindingSeverity, ProjectKind

NON_ROOT_USER = "65532:65532"
SECRET_NAME = re.compile(
    r"(PASSWORD|PASSWD|PASSPHRASE|TOKEN|SECRET|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|"
    r"CREDENTIAL|(^|_)KEY$|AUTH)",
    re.IGNORECASE,
)
# Values shaped like credentials, whatever the variable is called.
SECRET_VALUE = re.compile(
    r"(AKIA[0-9A-Z]{16}|gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_-]{20,}|"
    r"sk-[A-Za-z0-9]{20,}|xox[abpr]-[A-Za-z0-9-]{10,}|-----BEGIN [A-Z ]*PRIVATE KEY|"
    r"eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}\.)"
)
# Commands installing an application's dependencies from its manifest.
DEPENDENCY_INSTALL = re.compile(
    r"\b(pip3? install|poetry install|uv sync|pipenv install|npm (ci|install)|yarn( install)?\b|"
    r"pnpm install|go mod download|go build|bundle install|composer install|cargo build)"
)
MANIFESTS = (
    "requirements.txt",
    "pyproject.toml",
    "package.json",
    "package-lock.json",
    "yarn.lock",
    "go.mod",
    "go.sum",
)
DOCKERIGNORE = """\
# Keep the build context small and free of secrets and local state.
.git
.gitignore
**/__pycache__
**/*.pyc
.venv
node_modules
dist
build
*.log
.env
.env.*
*.pem
*.key
Dockerfile
.dockerignore
"""


@dataclass(frozen=True)
class Instruction:
    """One Dockerfile instruction: its keyword (upper case), its arguments as written and
    the lines it spans (1-based, inclusive)."""

    keyword: str
    arguments: str
    first_line: int
    last_line: int


def parse(text: str) -> list[Instruction]:
    """The instructions of a Dockerfile (comments and blank lines skipped, continuation
    lines joined)."""
    found: list[Instruction] = []
    parts: list[str] = []
    first = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not parts and (not line or line.startswith("#")):
            continue
        if parts and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if not parts:
            first = number
        continued = line.endswith("\\")
        parts.append(line[:-1].rstrip() if continued else line)
        if not continued:
            joined = " ".join(p for p in parts if p)
            keyword, _, arguments = joined.partition(" ")
            found.append(Instruction(keyword.upper(), arguments.strip(), first, number))
            parts = []
    if parts:
        joined = " ".join(p for p in parts if p)
        keyword, _, arguments = joined.partition(" ")
        found.append(Instruction(keyword.upper(), arguments.strip(), first, first + len(parts) - 1))
    return found


@dataclass(frozen=True)
class BaseImage:
    """The image of one `FROM`: its reference, the stage name it gets, its line."""

    reference: str
    stage: str | None
    line: int

    @property
    def is_scratch(self) -> bool:
        return self.reference == "scratch"

    @property
    def repository(self) -> str:
        """The reference without its tag or digest."""
        name = self.reference.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        return name[: len(name) - len(last)] + last.split(":", 1)[0]

    @property
    def tag(self) -> str | None:
        name = self.reference.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        return last.split(":", 1)[1] if ":" in last else None

    @property
    def pinned(self) -> bool:
        return "@sha256:" in self.reference


def base_images(instructions: Sequence[Instruction]) -> list[BaseImage]:
    """The external base images (not `scratch`, not an earlier stage, not an `ARG`)."""
    stages: set[str] = set()
    found: list[BaseImage] = []
    for item in instructions:
        if item.keyword != "FROM":
            continue
        words = [w for w in item.arguments.split() if not w.startswith("--")]
        if not words:
            continue
        reference = words[0]
        stage = words[2].lower() if len(words) >= 3 and words[1].upper() == "AS" else None
        external = reference.lower() not in stages and reference.lower() != "scratch"
        if external and "$" not in reference:
            found.append(BaseImage(reference, stage, item.first_line))
        if stage:
            stages.add(stage)
    return found


def _finding(
    rule: str,
    severity: FindingSeverity,
    line: int | None,
    message: str,
    fix: str,
    fixed: bool,
) -> DockerfileFinding:
    return DockerfileFinding(
        rule=f"slipway.{rule}",
        severity=severity,
        line=line,
        message=message,
        fix=fix,
        fixed_in_proposal=fixed,
    )


def _final_stage(instructions: Sequence[Instruction]) -> list[Instruction]:
    starts = [i for i, item in enumerate(instructions) if item.keyword == "FROM"]
    return list(instructions[starts[-1] :]) if starts else list(instructions)


def _user_is_root(user: str) -> bool:
    name = user.split(":", 1)[0].strip()
    return name in ("root", "0", "")


# --- the rules ---------------------------------------------------------------------


def multi_stage(instructions: Sequence[Instruction]) -> list[DockerfileFinding]:
    """A single-stage build that runs commands ships its build tools in the image."""
    froms = [item for item in instructions if item.keyword == "FROM"]
    runs = [item for item in instructions if item.keyword == "RUN"]
    if len(froms) != 1 or not runs:
        return []
    return [
        _finding(
            "multi-stage",
            "warning",
            froms[0].first_line,
            "single-stage build that runs commands: the compilers, package caches and build "
            "tools stay in the image",
            "build in a first stage (FROM … AS build) and COPY --from=build only what runs "
            "into a small final stage (distroless, alpine or scratch)",
            False,
        )
    ]


def non_root_user(instructions: Sequence[Instruction]) -> list[DockerfileFinding]:
    """The final stage must switch to a user other than root."""
    final = _final_stage(instructions)
    users = [item for item in final if item.keyword == "USER"]
    if users and not _user_is_root(users[-1].arguments):
        return []
    line = users[-1].first_line if users else None
    message = (
        f"the image runs as root (USER {users[-1].arguments})"
        if users
        else "the image runs as root: its final stage sets no USER"
    )
    return [
        _finding(
            "non-root-user",
            "error",
            line,
            message,
            f"add `USER {NON_ROOT_USER}` (or a named user made in the image) at the end of "
            "the final stage; Slipway's deployments refuse to run as root",
            True,
        )
    ]


def pinned_bases(
    instructions: Sequence[Instruction], digests: Mapping[str, str]
) -> list[DockerfileFinding]:
    """Base images pinned by digest; `latest` or no tag is the worst."""
    found = []
    for base in base_images(instructions):
        if base.pinned:
            continue
        known = base.reference in digests
        floating = base.tag in (None, "latest")
        how = (
            f"pin it as {base.repository}@{digests[base.reference]}"
            if known
            else f"pin it by digest ({base.repository}@sha256:…); the local Docker Engine knows "
            f"no repository digest of {base.reference}, so this cannot be done offline"
        )
        found.append(
            _finding(
                "pinned-base",
                "warning" if floating else "info",
                base.line,
                f"base image {base.reference} "
                + ("floats (`latest` or no tag)" if floating else "is pinned by tag only")
                + ": a rebuild may get a different image",
                how,
                known,
            )
        )
    return found


def dockerignore(files: Iterable[str]) -> list[DockerfileFinding]:
    if ".dockerignore" in set(files):
        return []
    return [
        _finding(
            "dockerignore",
            "warning",
            None,
            "the context has no .dockerignore: .git, local environments and secrets (.env, "
            "keys) are sent to the engine and may be copied into the image",
            "add a .dockerignore (see proposed_dockerignore)",
            True,
        )
    ]


def layer_order(instructions: Sequence[Instruction]) -> list[DockerfileFinding]:
    """In each stage, dependencies installed after the whole source is copied are
    reinstalled on every source change."""
    found = []
    copied_all: Instruction | None = None
    for item in instructions:
        if item.keyword == "FROM":
            copied_all = None
        elif item.keyword in ("COPY", "ADD") and copied_all is None:
            sources = [w for w in item.arguments.split() if not w.startswith("--")][:-1]
            if any(s in (".", "./", "*") for s in sources):
                copied_all = item
        elif (
            item.keyword == "RUN"
            and copied_all is not None
            and DEPENDENCY_INSTALL.search(item.arguments)
        ):
            found.append(
                _finding(
                    "layer-order",
                    "warning",
                    item.first_line,
                    f"dependencies are installed (line {item.first_line}) after the whole "
                    f"source is copied (line {copied_all.first_line}): every source change "
                    "reinstalls them",
                    "COPY the dependency manifests first (requirements.txt, "
                    "package*.json, go.mod/go.sum …), RUN the install, then COPY the source",
                    False,
                )
            )
            copied_all = None
    return found


def _variables(item: Instruction) -> list[tuple[str, str | None]]:
    """`(name, value)` pairs of an ENV or ARG (value None: an ARG with no default)."""
    try:
        words = shlex.split(item.arguments, posix=False)
    except ValueError:
        words = item.arguments.split()
    if item.keyword == "ENV" and words and "=" not in words[0]:
        return [(words[0], " ".join(words[1:]))]  # the legacy form `ENV NAME value`
    pairs: list[tuple[str, str | None]] = []
    for word in words:
        name, equals, value = word.partition("=")
        pairs.append((name, value if equals else None))
    return pairs


def _is_secret(name: str, value: str | None) -> bool:
    if SECRET_NAME.search(name):
        return True
    return value is not None and SECRET_VALUE.search(value) is not None


def secrets(instructions: Sequence[Instruction]) -> list[DockerfileFinding]:
    """Secrets in ARG or ENV end up in the image's history or config, readable by anyone
    who has the image. The value is never repeated."""
    found = []
    for item in instructions:
        if item.keyword not in ("ARG", "ENV"):
            continue
        for name, value in _variables(item):
            if not _is_secret(name, value):
                continue
            has_value = bool(value and value.strip("\"'"))
            found.append(
                _finding(
                    "secret-in-" + item.keyword.lower(),
                    "error" if has_value else "warning",
                    item.first_line,
                    f"{item.keyword} {name} looks like a secret"
                    + (" and has a value in the Dockerfile" if has_value else "")
                    + f": {item.keyword} values stay in the image's "
                    + ("config" if item.keyword == "ENV" else "build history"),
                    f"remove {name} from the Dockerfile; give it at run time (a Kubernetes "
                    f"Secret) or, when the build needs it, as a build secret: "
                    f"RUN --mount=type=secret,id={name.lower()} …",
                    True,
                )
            )
    return found


def review(text: str, files: Iterable[str], digests: Mapping[str, str]) -> list[DockerfileFinding]:
    """Slipway's own findings on a Dockerfile; `files` are the context's top-level names,
    `digests` the repository digests the engine knows, by base image reference."""
    instructions = parse(text)
    return [
        *non_root_user(instructions),
        *secrets(instructions),
        *pinned_bases(instructions, digests),
        *multi_stage(instructions),
        *layer_order(instructions),
        *dockerignore(files),
    ]


# --- the proposal ------------------------------------------------------------------


def _without_secrets(item: Instruction) -> str | None:
    """The ARG/ENV line with its secret variables dropped (None: nothing left of it)."""
    kept = [(n, v) for n, v in _variables(item) if not _is_secret(n, v)]
    if not kept:
        return None
    return f"{item.keyword} " + " ".join(n if v is None else f"{n}={v}" for n, v in kept)


def propose(text: str, digests: Mapping[str, str]) -> str:
    """The Dockerfile with what can be fixed offline fixed: secret ARG/ENV variables
    removed (a comment says where they go), floating base images pinned to the digest the
    engine knows, and a non-root USER at the end of the final stage."""
    instructions = parse(text)
    lines = text.splitlines()
    replaced: dict[int, list[str]] = {}
    dropped: set[int] = set()
    for item in instructions:
        span = range(item.first_line, item.last_line + 1)
        if item.keyword in ("ARG", "ENV") and any(_is_secret(n, v) for n, v in _variables(item)):
            names = ", ".join(n for n, v in _variables(item) if _is_secret(n, v))
            rewritten = _without_secrets(item)
            replaced[item.first_line] = [
                f"# {names}: a secret does not belong in the image; pass it at run time "
                f"(a Kubernetes Secret) or as a build secret (RUN --mount=type=secret,id=…)",
                *([rewritten] if rewritten else []),
            ]
            dropped.update(span)
    for base in base_images(instructions):
        if not base.pinned and base.reference in digests:
            pinned = f"{base.repository}@{digests[base.reference]}"
            current = replaced.get(base.line, [lines[base.line - 1]])
            replaced[base.line] = [ln.replace(base.reference, pinned, 1) for ln in current]
            dropped.add(base.line)
    needs_user = bool(non_root_user(instructions))
    if needs_user:
        for item in _final_stage(instructions):
            if item.keyword == "USER":  # a root USER: the one appended below replaces it
                replaced[item.first_line] = [f"# USER {item.arguments}: root, replaced below"]
                dropped.add(item.first_line)
    out: list[str] = []
    for number, line in enumerate(lines, start=1):
        if number in replaced:
            out += replaced[number]
        elif number not in dropped:
            out.append(line)
    if needs_user:
        out.append(f"USER {NON_ROOT_USER}")
    return "\n".join(out).rstrip("\n") + "\n"


# --- generate mode -----------------------------------------------------------------


def project_kind(files: Iterable[str]) -> ProjectKind:
    """What a context holds, from its top-level files."""
    names = set(files)
    if names & {"pyproject.toml", "requirements.txt", "setup.py"}:
        return "python"
    if "package.json" in names:
        return "node"
    if "go.mod" in names:
        return "go"
    if "index.html" in names:
        return "static"
    return "unknown"


def _python(names: set[str]) -> str:
    manifest = "requirements.txt" if "requirements.txt" in names else "pyproject.toml"
    install = (
        "pip install --no-cache-dir --prefix=/install -r requirements.txt"
        if manifest == "requirements.txt"
        else "pip install --no-cache-dir --prefix=/install ."
    )
    entry = next((n for n in ("main.py", "app.py", "server.py") if n in names), None)
    command = f'["python", "{entry}"]' if entry else '["python", "-m", "app"]'
    return f"""\
# Build stage: install the dependencies apart from the source (cached until {manifest} changes).
FROM python:3.12-slim AS build
WORKDIR /src
COPY {manifest} ./
RUN {install}
COPY . .

# Final stage: the interpreter, the installed packages and the source; no build tools.
FROM python:3.12-slim
WORKDIR /app
COPY --from=build /install /usr/local
COPY --from=build /src /app
USER {NON_ROOT_USER}
EXPOSE 8080
CMD {command}
"""


def _node(names: set[str]) -> str:
    lock = "package-lock.json" if "package-lock.json" in names else None
    install = "npm ci --omit=dev" if lock else "npm install --omit=dev"
    return f"""\
# Build stage: the dependencies first (cached until package*.json changes), then the source.
FROM node:22-alpine AS build
WORKDIR /app
COPY package*.json ./
RUN {install}
COPY . .

# Final stage: the application and its production dependencies only.
FROM node:22-alpine
WORKDIR /app
COPY --from=build /app /app
USER {NON_ROOT_USER}
EXPOSE 8080
CMD ["node", "."]
"""


def _go(names: set[str]) -> str:
    sums = " go.sum" if "go.sum" in names else ""
    return f"""\
# Build stage: the modules first (cached until go.mod/go.sum change), then a static binary.
FROM golang:1.23 AS build
WORKDIR /src
COPY go.mod{sums} ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /out/app .

# Final stage: the binary alone.
FROM scratch
COPY --from=build /out/app /app
USER {NON_ROOT_USER}
EXPOSE 8080
ENTRYPOINT ["/app"]
"""


STATIC = """\
# The site as data on an unprivileged web server (it listens on 8080 as user 101); nothing
# is compiled, so a build stage would add nothing.
FROM nginxinc/nginx-unprivileged:1.27-alpine
COPY --chown=101:101 . /usr/share/nginx/html
USER 101
EXPOSE 8080
"""

UNKNOWN = f"""\
# No Python, Node, Go or static-site files were found: a data-only image of the context.
# Replace scratch with the runtime the application needs.
FROM scratch
COPY . /app
USER {NON_ROOT_USER}
"""


def generate(kind: ProjectKind, files: Iterable[str]) -> str:
    """A multi-stage, non-root Dockerfile for a project of `kind`."""
    names = set(files)
    if kind == "python":
        return _python(names)
    if kind == "node":
        return _node(names)
    if kind == "go":
        return _go(names)
    if kind == "static":
        return STATIC
    return UNKNOWN
