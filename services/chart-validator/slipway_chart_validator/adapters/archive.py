"""Safe extraction of an uploaded chart archive (.tgz), checked member by member first."""

from __future__ import annotations

import gzip
import io
import tarfile
import zlib
from pathlib import Path, PurePosixPath

from ..domain.ports import UnsafeArchive

GZIP_MAGIC = b"\x1f\x8b"
MAX_MEMBERS = 10_000


def _member_parts(member: tarfile.TarInfo) -> tuple[str, ...]:
    name = member.name
    if name.startswith("/") or PurePosixPath(name).is_absolute():
        raise UnsafeArchive("absolute-path", "absolute paths are not allowed", name)
    if "\\" in name:
        raise UnsafeArchive("backslash", "backslashes are not allowed in member names", name)
    parts = tuple(part for part in PurePosixPath(name).parts if part != ".")
    if ".." in parts:
        raise UnsafeArchive("parent-reference", "'..' would write outside the chart", name)
    return parts


def _check_type(member: tarfile.TarInfo) -> None:
    if member.issym() or member.islnk():
        raise UnsafeArchive(
            "link", f"links are not allowed (points to {member.linkname!r})", member.name
        )
    if member.ischr() or member.isblk() or member.isfifo():
        raise UnsafeArchive("special-file", "device and FIFO files are not allowed", member.name)
    if not (member.isfile() or member.isdir()):
        raise UnsafeArchive("member-type", "only files and directories are allowed", member.name)


def _checked_members(archive: tarfile.TarFile, max_bytes: int) -> tuple[str, list[tarfile.TarInfo]]:
    """Every member, validated, and the single top-level directory they all live in."""
    members: list[tarfile.TarInfo] = []
    roots: set[str] = set()
    total = 0
    # Read headers one by one so a bomb is refused before it is fully decompressed.
    while (member := archive.next()) is not None:
        if len(members) >= MAX_MEMBERS:
            raise UnsafeArchive("member-count", f"more than {MAX_MEMBERS} entries")
        parts = _member_parts(member)
        _check_type(member)
        total += member.size
        if total > max_bytes:
            raise UnsafeArchive(
                "size-limit",
                f"the archive unpacks to more than the {max_bytes} bytes allowed",
                member.name,
            )
        if not parts:
            continue  # the "./" entry itself
        if len(parts) == 1 and member.isfile():
            raise UnsafeArchive(
                "single-root", "files must live in the chart's top-level directory", member.name
            )
        roots.add(parts[0])
        members.append(member)
    if len(roots) != 1:
        found = ", ".join(sorted(roots)) or "nothing"
        raise UnsafeArchive(
            "single-root", f"expected exactly one top-level chart directory, found {found}"
        )
    return roots.pop(), members


def extract_chart_archive(data: bytes, dest: Path, max_bytes: int) -> Path:
    """Extract a gzip-compressed tar chart into `dest` and return the chart root directory.

    Everything is checked before anything is written: absolute paths, `..`, links of any
    kind, device/FIFO files and the total unpacked size all raise `UnsafeArchive`.
    """
    if not data.startswith(GZIP_MAGIC):
        raise UnsafeArchive("not-gzip", "the data is not gzip-compressed (expected a .tgz)")
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            root, members = _checked_members(archive, max_bytes)
            dest.mkdir(parents=True, exist_ok=True)
            dest = dest.resolve()
            try:
                # The "data" filter re-checks paths and links and strips modes such as setuid.
                archive.extractall(dest, members=members, filter="data")
            except tarfile.FilterError as exc:
                raise UnsafeArchive("filter", str(exc)) from exc
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise UnsafeArchive("not-tar", f"not a readable tar.gz archive ({exc})") from exc
    chart_root = (dest / root).resolve()
    if chart_root.parent != dest or not chart_root.is_dir():
        raise UnsafeArchive("single-root", "the top-level entry is not a directory", root)
    return chart_root
