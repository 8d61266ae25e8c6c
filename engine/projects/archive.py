"""Project archives (zip files, as Azkaban projects are uploaded): checked before anything is kept, and unpacked
so that nothing leaves the directory it is unpacked into.

Refused, each with its reason: not a zip, over MAX_ARCHIVE_BYTES, more than MAX_ENTRIES entries, a zip bomb (more
than MAX_UNPACKED_BYTES in all, or an entry that expands more than MAX_RATIO times), a path that is absolute or
climbs out with ``..`` (zip-slip), a symlink whose target leaves the root, two entries with one path, and an
encrypted entry. Sizes are checked on the declared headers and again while decompressing, since headers can lie.
"""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

MAX_ARCHIVE_BYTES = 256 * 1024 * 1024
MAX_UNPACKED_BYTES = 1024 * 1024 * 1024
MAX_ENTRIES = 20_000
MAX_RATIO = 200  # deflate reaches ~1000x only on degenerate input; real projects stay far below this
RATIO_FLOOR = 1024 * 1024  # below this size an entry's ratio is not judged (small text files compress well)
_CHUNK = 1024 * 1024


class ArchiveError(ValueError):
    """The archive is refused; ``problems`` lists every reason found."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


@dataclass(frozen=True)
class Entry:
    path: str  # normalised, relative, '/'-separated
    name: str  # as the zip names it
    size: int
    is_dir: bool
    link_target: str | None  # a symlink's target, else None
    executable: bool


@dataclass(frozen=True)
class Archive:
    sha256: str
    size: int
    entries: tuple[Entry, ...]


def _safe_path(name: str) -> str | None:
    """The entry's path relative to the root, or None when it is absolute or climbs out."""
    text = name.replace("\\", "/")
    if text.startswith("/") or (len(text) > 1 and text[1] == ":"):
        return None
    parts = [part for part in PurePosixPath(text).parts if part not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/".join(parts)


def _link_stays_inside(path: str, target: str) -> bool:
    if target.startswith("/") or target.replace("\\", "/").startswith("/"):
        return False
    depth = len(PurePosixPath(path).parts) - 1  # the link's own directory
    for part in PurePosixPath(target.replace("\\", "/")).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return False
        elif part not in ("", "."):
            depth += 1
    return True


def _mode(info: zipfile.ZipInfo) -> int:
    return (info.external_attr >> 16) & 0xFFFF if info.create_system == 3 else 0


def open_archive(data: bytes, digest: str | None = None) -> tuple[zipfile.ZipFile, Archive]:
    """Check an uploaded archive; raises ArchiveError with every problem found. ``digest``: its sha256, when the
    caller has already verified it (hashing 256 MiB again is not free)."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise ArchiveError([f"the archive is {len(data):,} bytes; at most {MAX_ARCHIVE_BYTES:,} are accepted"])
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as exc:
        raise ArchiveError([f"not a zip archive: {exc}"]) from exc
    problems: list[str] = []
    if len(infos) > MAX_ENTRIES:
        raise ArchiveError([f"the archive has {len(infos):,} entries; at most {MAX_ENTRIES:,} are accepted"])
    entries: list[Entry] = []
    seen: set[str] = set()
    total = 0
    for info in infos:
        path = _safe_path(info.filename)
        if path is None:
            problems.append(f"{info.filename!r}: a path outside the project (absolute, or climbing out with ..)")
            continue
        if path in seen:
            problems.append(f"{path}: more than one entry has this path")
            continue
        seen.add(path)
        if info.flag_bits & 0x1:
            problems.append(f"{path}: encrypted entries are not accepted")
            continue
        mode = _mode(info)
        target = None
        if stat.S_ISLNK(mode):
            target = archive.read(info).decode("utf-8", errors="replace") if info.file_size <= 4096 else ""
            if not target or not _link_stays_inside(path, target):
                problems.append(f"{path}: a symlink to {target!r}, outside the project")
                continue
        total += info.file_size
        if info.file_size > RATIO_FLOOR and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            problems.append(f"{path}: expands {info.file_size / max(info.compress_size, 1):,.0f} times "
                            f"({info.compress_size:,} -> {info.file_size:,} bytes); at most {MAX_RATIO} is accepted")
        entries.append(Entry(path, info.filename, info.file_size, info.is_dir(), target, bool(mode & 0o111)))
    if total > MAX_UNPACKED_BYTES:
        problems.append(f"the archive unpacks to {total:,} bytes; at most {MAX_UNPACKED_BYTES:,} are accepted")
    if problems:
        raise ArchiveError(problems)
    return archive, Archive(digest or hashlib.sha256(data).hexdigest(), len(data), tuple(entries))


def read_text(archive: zipfile.ZipFile, entry: Entry) -> str:
    """A small text entry (a flow or properties file), read with its declared size enforced."""
    try:
        return _read(archive, entry).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ArchiveError([f"{entry.path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from exc


def _read(archive: zipfile.ZipFile, entry: Entry) -> bytes:
    out = io.BytesIO()
    _copy(archive, entry, out)
    return out.getvalue()


def _copy(archive: zipfile.ZipFile, entry: Entry, sink: io.BufferedIOBase | io.BytesIO) -> None:
    """Decompress one entry into ``sink``, never more than its header declares, refusing a corrupt one."""
    written = 0
    try:
        with archive.open(archive.getinfo(entry.name)) as source:
            while chunk := source.read(_CHUNK):
                written += len(chunk)
                if written > entry.size:
                    raise ArchiveError([f"{entry.path}: holds more than its header declares ({entry.size:,} "
                                        f"bytes)"])
                sink.write(chunk)
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
        raise ArchiveError([f"{entry.path}: a corrupt entry ({exc})"]) from exc


def unpack(data: bytes, root: Path, digest: str | None = None) -> Archive:
    """Check ``data`` and unpack it into ``root`` (which must be empty or absent): every path stays inside, no
    entry is larger than its header says, and executable bits are kept."""
    archive, checked = open_archive(data, digest)
    root.mkdir(parents=True, exist_ok=True)
    base = root.resolve()
    for entry in checked.entries:
        destination = base / entry.path
        if not destination.parent.resolve().is_relative_to(base):  # through a symlink unpacked before
            raise ArchiveError([f"{entry.path}: would be written outside the project"])
        if entry.is_dir:
            destination.mkdir(parents=True, exist_ok=True)
            continue
        destination.parent.mkdir(parents=True, exist_ok=True)
        if entry.link_target is not None:
            destination.symlink_to(entry.link_target)
            continue
        with open(destination, "xb") as sink:
            _copy(archive, entry, sink)
        if entry.executable:
            destination.chmod(0o755)
    return checked
