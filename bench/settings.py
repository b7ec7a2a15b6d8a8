"""How much the bench does: a scale preset (`--scale tiny|full`, or `SLIPWAY_BENCH_SCALE`),
any size of which a flag (`--rest-ops 500`) or an environment variable
(`SLIPWAY_BENCH_REST_OPS=500`) overrides; a flag wins over the environment."""

from __future__ import annotations

import argparse
import dataclasses
import os
from dataclasses import dataclass, field
from pathlib import Path

ENV_PREFIX = "SLIPWAY_BENCH_"
ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"


@dataclass(frozen=True)
class Sizes:
    """Counts and durations of each section (`help` in each field's metadata)."""

    raw_ops: int = field(metadata={"help": "raw-ceiling transactions per in-flight level"})
    rest_ops: int = field(metadata={"help": "REST creates per in-flight level (1, 16, 64)"})
    nats_ops: int = field(metadata={"help": "creates sent over NATS per in-flight level (1, 64)"})
    warmup: int = field(metadata={"help": "untimed operations before each timed level"})
    entities: int = field(metadata={"help": "entities seeded before reads and lists"})
    reads: int = field(metadata={"help": "GETs of one entity, and lists of 50, each"})
    event_rate: float = field(metadata={"help": "creates per second while events are timed"})
    event_seconds: float = field(metadata={"help": "how long creates are sent at that rate"})
    event_warmup_s: float = field(
        metadata={"help": "how long creates are sent at that rate before the timing starts"}
    )
    builds: int = field(metadata={"help": "image builds, through Slipway and `docker build` each"})
    validations: int = field(metadata={"help": "chart validations, through Slipway and the CLIs"})
    deployments: int = field(metadata={"help": "deployments created at once"})
    deploy_in_flight: int = field(metadata={"help": "most deployment creates in flight at once"})
    deploy_deadline_s: float = field(metadata={"help": "give up waiting for them after this"})


PRESETS = {
    "tiny": Sizes(
        raw_ops=10,
        rest_ops=10,
        nats_ops=10,
        warmup=2,
        entities=100,
        reads=10,
        event_rate=100,
        event_seconds=0.1,
        event_warmup_s=0.05,
        builds=1,
        validations=1,
        deployments=5,
        deploy_in_flight=64,
        deploy_deadline_s=60,
    ),
    "full": Sizes(
        raw_ops=2000,
        rest_ops=1000,
        nats_ops=1000,
        warmup=20,
        entities=100_000,
        reads=500,
        event_rate=100,
        event_seconds=20,
        event_warmup_s=2,
        builds=3,
        validations=3,
        deployments=1000,
        deploy_in_flight=64,
        deploy_deadline_s=300,
    ),
}
SECTION_NAMES = (
    "raw",
    "rest_create",
    "nats_create",
    "reads",
    "events",
    "image_build",
    "chart_validation",
    "deployments",
)


@dataclass(frozen=True)
class Options:
    scale: str
    sizes: Sizes
    sections: tuple[str, ...]
    results_dir: Path
    keep_state: bool


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m bench",
        description="Slipway's throughput, latency and memory beside the raw ceilings of this "
        "machine. Every option also reads SLIPWAY_BENCH_<OPTION> (e.g. SLIPWAY_BENCH_REST_OPS).",
    )
    parse.add_argument("--scale", choices=sorted(PRESETS), help="size preset (default: full)")
    for size in dataclasses.fields(Sizes):
        kind = float if size.type in ("float", float) else int
        parse.add_argument(_flag(size.name), type=kind, help=size.metadata["help"])
    parse.add_argument(
        "--sections",
        help=f"comma-separated subset of {','.join(SECTION_NAMES)} (default: all)",
    )
    parse.add_argument("--results-dir", type=Path, help=f"where the JSON goes ({RESULTS_DIR})")
    parse.add_argument(
        "--keep-state",
        action="store_true",
        default=None,
        help="keep the embedded stack's temporary state directory (its logs) after the run",
    )
    return parse


def _from_env(name: str) -> str | None:
    return os.environ.get(ENV_PREFIX + name.upper()) or None


def options(argv: list[str] | None = None) -> Options:
    """The options of this run: flags, else SLIPWAY_BENCH_* variables, else the preset."""
    args = parser().parse_args(argv)
    scale = args.scale or _from_env("scale") or "full"
    if scale not in PRESETS:
        raise SystemExit(f"unknown scale {scale!r}: choose one of {', '.join(sorted(PRESETS))}")
    chosen: dict[str, float | int] = {}
    for size in dataclasses.fields(Sizes):
        value = getattr(args, size.name)
        text = _from_env(size.name)
        if value is None and text is not None:
            value = float(text) if size.type in ("float", float) else int(text)
        if value is not None:
            chosen[size.name] = value
    sizes = dataclasses.replace(PRESETS[scale], **chosen)  # type: ignore[arg-type]
    listed = args.sections or _from_env("sections")
    sections = tuple(s.strip() for s in listed.split(",")) if listed else SECTION_NAMES
    unknown = set(sections) - set(SECTION_NAMES)
    if unknown:
        raise SystemExit(f"unknown sections {sorted(unknown)}: choose from {SECTION_NAMES}")
    results = args.results_dir or Path(_from_env("results_dir") or RESULTS_DIR)
    keep = args.keep_state if args.keep_state is not None else _from_env("keep_state") == "1"
    return Options(scale, sizes, sections, results, keep)
