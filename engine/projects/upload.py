"""What an uploaded project holds: its archive checked, and its flows found and validated, before anything is kept.

As Azkaban decides (``AzkabanProjectLoader`` / ``FlowLoaderUtils``): an archive whose ``.project`` file says
``azkaban-flow-version: 2.0`` holds Flow 2.0 ``.flow`` files, each a flow named after its file; otherwise its
``.job`` and ``.properties`` files are a Flow 1.0 project (engine/projects/flow1.py converts them). macOS
resource files (``__MACOSX/``, ``._*``) are not project files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import PurePosixPath

import yaml

from engine.domain.loader import check_flow
from engine.domain.spec import FlowSpec
from engine.domain.validation import check_name
from engine.projects import flow1
from engine.projects.archive import Archive, ArchiveError, Entry, open_archive, read_text


class ProjectInvalid(ValueError):
    """The upload is refused: ``status`` is the HTTP status it answers with, ``problems`` say why, each naming its
    file when there is one."""

    def __init__(self, status: int, message: str, problems: list[dict[str, str | None]]) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.problems = problems


@dataclass(frozen=True)
class ProjectUpload:
    project: str
    archive: Archive
    flow_version: str  # "2.0" or "1.0"
    flows: dict[str, str]  # flow name -> Flow 2.0 YAML
    sources: dict[str, str]  # flow name -> the file it comes from
    specs: dict[str, FlowSpec]


def _project_file(path: str) -> bool:
    name = PurePosixPath(path).name
    return not path.startswith("__MACOSX/") and not name.startswith("._")


def _declares_flow20(text: str) -> bool:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return isinstance(doc, dict) and str(doc.get("azkaban-flow-version")) == "2.0"


def _texts(archive: object, entries: list[Entry]) -> dict[str, str]:
    out = {}
    for entry in entries:
        try:
            out[entry.path] = read_text(archive, entry)  # type: ignore[arg-type]
        except ArchiveError as exc:
            raise ProjectInvalid(400, "bad archive", [{"file": entry.path, "message": p} for p in exc.problems]
                                 ) from exc
    return out


def prepare(project: str, data: bytes) -> ProjectUpload:
    """Check ``data`` as project ``project``; raises ProjectInvalid listing every problem."""
    if error := check_name(project, "project name"):
        raise ProjectInvalid(400, error, [])
    try:
        archive, checked = open_archive(data)
    except ArchiveError as exc:
        status = 413 if any("at most" in p and "bytes" in p and "archive is" in p for p in exc.problems) else 400
        raise ProjectInvalid(status, "bad archive", [{"file": None, "message": p} for p in exc.problems]) from exc
    files = [e for e in checked.entries if not e.is_dir and e.link_target is None and _project_file(e.path)]
    descriptors = _texts(archive, [e for e in files if e.path.endswith(".project")])
    flow20 = any(_declares_flow20(text) for text in descriptors.values()) or (
        any(e.path.endswith(".flow") for e in files) and not any(e.path.endswith(".job") for e in files))
    problems: list[dict[str, str | None]] = []
    flows: dict[str, str] = {}
    sources: dict[str, str] = {}
    if flow20:
        for path, text in _texts(archive, [e for e in files if e.path.endswith(".flow")]).items():
            name = PurePosixPath(path).stem
            if name in flows:
                problems.append({"file": path, "message": f"flow {name!r} is also defined by {sources[name]}"})
                continue
            flows[name], sources[name] = text, path
    else:
        converted = flow1.convert(_texts(archive, [e for e in files if e.path.endswith((".job", ".properties"))]))
        problems += [{"file": None, "message": error} for error in converted.errors]
        flows, sources = converted.flows, converted.sources
    if not flows and not problems:
        raise ProjectInvalid(422, "no flow in the archive", [{"file": None, "message": (
            "it has no .flow file (Flow 2.0, with a .project file saying azkaban-flow-version: 2.0) and no "
            ".job file (Flow 1.0)")}])
    specs: dict[str, FlowSpec] = {}
    for name, text in flows.items():
        if error := check_name(name, "flow name"):
            problems.append({"file": sources[name], "message": error})
            continue
        spec, found = check_flow(text, default_name=name)
        problems += [{"file": sources[name], "message": str(p)} for p in found]
        if spec is not None and spec.name != name:  # Azkaban names a project's flow after its file
            problems.append({"file": sources[name], "message": f"the file names its flow {spec.name!r}; in a "
                                                               f"project a flow is named after its file ({name!r})"})
            continue
        if spec is not None and not found:
            specs[name] = spec
    if problems:
        raise ProjectInvalid(422, "invalid project", problems)
    return ProjectUpload(project, checked, "2.0" if flow20 else "1.0", flows, sources, specs)
