"""Project archives: every limit refused with a hostile input, nothing written outside the root, and Azkaban's own
project zips accepted."""

from __future__ import annotations

import io
import stat
import struct
import zipfile
from pathlib import Path

import pytest

from engine.projects import archive as arc
from engine.projects.archive import ArchiveError, open_archive, read_text, unpack

PROJECTS = Path(__file__).resolve().parents[1] / "azkaban" / "projects"


def make_zip(*entries: tuple[str, bytes] | zipfile.ZipInfo, infos: list[tuple[zipfile.ZipInfo, bytes]] | None = None,
             compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as z:
        for name, data in entries:  # type: ignore[misc]
            z.writestr(name, data)
        for info, data in infos or []:
            z.writestr(info, data)
    return out.getvalue()


def symlink(name: str, target: str) -> tuple[zipfile.ZipInfo, bytes]:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info, target.encode()


def problems(data: bytes) -> list[str]:
    with pytest.raises(ArchiveError) as info:
        open_archive(data)
    return info.value.problems


def test_azkabans_project_zips_are_accepted(tmp_path: Path):
    for path in sorted(PROJECTS.glob("*.zip")):
        checked = unpack(path.read_bytes(), tmp_path / path.stem)
        assert any(e.path.endswith((".flow", ".job")) for e in checked.entries), path
    assert (tmp_path / "sample_flow_01" / "sample_flow_01" / "shell_end.job").read_text().startswith("type=noop")


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + b"\0" * 40])
def test_not_a_zip(data: bytes):
    assert problems(data)[0].startswith("not a zip archive")


def test_over_the_size_limit():
    assert "at most 268,435,456 are accepted" in problems(b"PK" + b"\0" * arc.MAX_ARCHIVE_BYTES)[0]


@pytest.mark.parametrize("name", ["../evil.sh", "/etc/cron.d/evil", "a/../../evil", "..\\evil", "C:\\evil",
                                  "a/b/../../../evil"])
def test_zip_slip_paths_are_refused(name: str, tmp_path: Path):
    data = make_zip(("ok.flow", b"nodes: []"), (name, b"echo pwned"))
    assert "a path outside the project" in problems(data)[0]
    with pytest.raises(ArchiveError):
        unpack(data, tmp_path / "root")
    assert not (tmp_path / "evil.sh").exists() and not (tmp_path / "evil").exists()
    assert not (tmp_path / "root").exists()  # refused before anything is written


@pytest.mark.parametrize("target", ["../outside", "/etc/passwd", "a/../../x", "../../../../etc"])
def test_a_symlink_out_of_the_root_is_refused(target: str):
    data = make_zip(infos=[symlink("link", target)])
    assert "a symlink to" in problems(data)[0] and "outside the project" in problems(data)[0]


def test_a_symlink_inside_the_root_is_kept(tmp_path: Path):
    data = make_zip(("dir/real.sh", b"echo hi"), infos=[symlink("dir/alias.sh", "real.sh"),
                                                       symlink("up.sh", "dir/real.sh")])
    unpack(data, tmp_path / "root")
    assert (tmp_path / "root" / "dir" / "alias.sh").read_text() == "echo hi"
    assert (tmp_path / "root" / "up.sh").is_symlink()


def test_a_zip_bomb_by_ratio_is_refused():
    bomb = make_zip(("zeros.bin", b"\0" * (64 * 1024 * 1024)))
    assert len(bomb) < 100_000
    assert "expands" in problems(bomb)[0] and "at most 200 is accepted" in problems(bomb)[0]


def test_an_archive_that_unpacks_too_large_is_refused(monkeypatch: pytest.MonkeyPatch):
    # many entries each under the ratio floor: the total is what gives the bomb away (the limit lowered so the
    # hostile archive stays small to build)
    monkeypatch.setattr(arc, "MAX_UNPACKED_BYTES", 4 * 1024 * 1024)
    data = make_zip(*[(f"part{n}.bin", bytes(range(256)) * 4096) for n in range(5)])
    assert "unpacks to 5,242,880 bytes" in problems(data)[0]


def test_a_header_that_lies_about_the_size_is_caught(tmp_path: Path):
    data = bytearray(make_zip(("big.txt", b"x" * 100_000), compression=zipfile.ZIP_DEFLATED))
    # shrink the declared uncompressed size in the local header and the central directory to 10 bytes
    local = data.index(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, 10)
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)
    with pytest.raises(ArchiveError, match=r"big\.txt: (a corrupt entry|holds more than its header)"):
        unpack(bytes(data), tmp_path / "root")


def test_duplicate_and_encrypted_entries_are_refused():
    duplicate = make_zip(("a.flow", b"1"), ("./a.flow", b"2"))
    assert problems(duplicate) == ["a.flow: more than one entry has this path"]
    locked = bytearray(make_zip(("secret.flow", b"nodes: []")))
    for marker, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = locked.index(marker)
        struct.pack_into("<H", locked, at + offset, struct.unpack_from("<H", locked, at + offset)[0] | 1)
    assert problems(bytes(locked)) == ["secret.flow: encrypted entries are not accepted"]


def test_too_many_entries_are_refused(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(arc, "MAX_ENTRIES", 10)
    assert "11 entries; at most 10" in problems(make_zip(*[(f"f{n}", b"") for n in range(11)]))[0]


def test_executable_bits_survive_and_text_is_read_checked(tmp_path: Path):
    info = zipfile.ZipInfo("run.sh")
    info.create_system = 3
    info.external_attr = (stat.S_IFREG | 0o755) << 16
    data = make_zip(("flow.flow", "nodes: [] # ünïcødé".encode()), ("bin.dat", b"\xff\xfe"), infos=[(info, b"echo")])
    unpack(data, tmp_path / "root")
    assert (tmp_path / "root" / "run.sh").stat().st_mode & 0o111
    archive, checked = open_archive(data)
    by_path = {e.path: e for e in checked.entries}
    assert read_text(archive, by_path["flow.flow"]).endswith("ünïcødé")
    with pytest.raises(ArchiveError, match=r"bin\.dat: not UTF-8 text"):
        read_text(archive, by_path["bin.dat"])
