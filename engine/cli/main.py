"""The ``kafkaban`` command line: run the parts (dev, engine, worker, projector, api) and talk to the API."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from engine.broker.kafka_dist import BrokerUnavailable
from engine.cli.access import add_access_commands
from engine.cli.common import EXIT_BROKEN_PIPE, EXIT_FAILED, EXIT_OK, EXIT_STILL_RUNNING, EXIT_USAGE
from engine.cli.common import params as _params
from engine.cli.common import print_json as _print_json
from engine.cli.schedules import add_schedule_commands
from engine.client import ApiFailure, ApiUnreachable, call, stream
from engine.clock import iso_from_ms
from engine.config import VERIFY_MAX_LAG, ConfigError, Settings
from engine.domain.loader import check_flow, flow_warnings
from engine.domain.spec import FlowSpec
from engine.domain.state import EXECUTION_TERMINAL, ExecutionStatus
from engine.polling import poll_until

USAGE_STATUSES = (400, 404, 413, 422)  # the request was wrong; anything else (409: it ended already) is a failure


def readable(detail: Any) -> str:
    """One error detail of the API as text: ``where: message`` (a flow problem names its job)."""
    if not isinstance(detail, dict):
        return str(detail)
    where = detail.get("where") or detail.get("node") or detail.get("file") or ""
    message = detail.get("message") or ", ".join(f"{k}={v}" for k, v in detail.items() if k != "where")
    return f"{where}: {message}" if where else str(message)


def _with_dev_stack(settings: Settings) -> Settings:
    """Settings with the broker and database a running `kafkaban dev` names, for what KAFKABAN_BOOTSTRAP and
    KAFKABAN_DATABASE_URL leave unset: the log-reading commands then need only KAFKABAN_URL."""
    from engine.dev_tokens import stack_for

    # the stack's engine key comes from the file it left for this user, never over HTTP
    settings = settings.with_(engine_key=settings.engine_key or stack_for(settings.api_url).get("engine_key") or None)
    if settings.bootstrap and settings.database_url:
        return settings
    try:
        found = call(settings.api_url, "GET", "/api/v1/dev/connection", timeout=5)
    except (ApiFailure, ApiUnreachable):
        return settings  # not a dev stack: the require_ checks say what to set
    return settings.with_(bootstrap=settings.bootstrap or found.get("bootstrap"),
                          database_url=settings.database_url or found.get("database_url"))


# -- flows ------------------------------------------------------------------------------------------------------

def _flow_validate(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"kafkaban: cannot read {path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    spec, problems = check_flow(text, default_name=path.stem)
    valid = not problems and spec is not None
    warnings = flow_warnings(spec) if valid and spec is not None else []
    for warning in [] if args.json else warnings:
        print(f"  warning: {warning}", file=sys.stderr)
    if args.json:
        report: dict[str, object] = {"file": str(path), "valid": valid, "errors": [p.to_dict() for p in problems],
                                     "warnings": [w.to_dict() for w in warnings]}
        if valid and spec is not None:
            report.update(_summary(spec))
        print(json.dumps(report, indent=2))
    elif valid and spec is not None:
        summary = _summary(spec)
        print(f"{path}: valid flow {summary['flow']!r}, version {summary['version']}")
        print(f"  {summary['jobs']} jobs; first: {', '.join(summary['roots'])}; "
              f"pools: {', '.join(summary['pools'])}; failure policy: {summary['failure_policy']}")
    else:
        print(f"{path}: {len(problems)} problem{'s' if len(problems) != 1 else ''}", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
    return EXIT_OK if valid else EXIT_FAILED


def _summary(spec: FlowSpec) -> dict[str, Any]:
    return {
        "flow": spec.name,
        "version": spec.version_hash(),
        "jobs": len(spec.jobs),
        "roots": list(spec.roots),
        "pools": sorted({job.pool for job in spec.jobs}),
        "failure_policy": spec.failure_policy.value,
        "params": dict(spec.params),
    }


def _read_file(path: Path) -> bytes:
    """A file the user named; unreadable, it is a usage error (exit 2) saying why."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc}") from exc


def _flow_register(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    raw = _read_file(path)
    answer = call(settings.api_url, "POST", f"/api/v1/flows?name={path.stem}", raw=raw, content_type="text/yaml")
    if args.json:
        _print_json(answer)
    else:
        print(f"registered flow {answer['name']!r} version {answer['version']} ({answer['jobs']} jobs)")
        for warning in answer.get("warnings") or []:
            print(f"  warning: {readable(warning)}", file=sys.stderr)
    return EXIT_OK


# -- projects ---------------------------------------------------------------------------------------------------

def _project_upload(args: argparse.Namespace, settings: Settings) -> int:
    data = _read_file(Path(args.archive))
    answer = call(settings.api_url, "POST", f"/api/v1/projects/{urllib.parse.quote(args.name, safe='')}",
                  raw=data, content_type="application/zip", timeout=600)
    if args.json:
        _print_json(answer)
    else:
        print(f"uploaded project {answer['project']!r}: archive {answer['archive']} ({answer['size']:,} bytes, "
              f"Flow {answer['flow_version']}); flows: {', '.join(answer['flows'])}")
        print(f"  run one with: kafkaban submit {answer['project']}/{answer['flows'][0]}")
    return EXIT_OK


def _projects(args: argparse.Namespace, settings: Settings) -> int:
    if args.name:
        answer = call(settings.api_url, "GET", f"/api/v1/projects/{urllib.parse.quote(args.name, safe='')}")
        if args.json:
            _print_json(answer)
            return EXIT_OK
        print(f"{answer['project']}: {len(answer['uploads'])} upload(s); latest archive {answer['latest']}")
        for flow in answer["flows"]:
            print(f"  {flow['flow']:<30} {flow['file']}")
        for upload in answer["uploads"]:
            print(f"  upload {upload['uploaded_at']} {upload['archive_sha256'][:12]} by {upload['uploaded_by']}")
        return EXIT_OK
    answer = call(settings.api_url, "GET", "/api/v1/projects")
    if args.json:
        _print_json(answer)
    else:
        for project in answer["projects"]:
            print(f"{project['project']:<24} {project['uploads']} upload(s), flows: {', '.join(project['flows'])}")
    return EXIT_OK


def _flows(args: argparse.Namespace, settings: Settings) -> int:
    """Every flow a submission may name: the registered ones, then each project's as PROJECT/FLOW."""
    registered = call(settings.api_url, "GET", "/api/v1/flows")["flows"]
    projects = call(settings.api_url, "GET", "/api/v1/projects")["projects"]
    rows = [{"name": f["name"], "project": None, "version": f["version"], "jobs": f["jobs"],
             "versions": f["versions"], "registered_at": f["registered_at"], "last_run": f.get("last_run")}
            for f in registered]
    rows += [{"name": f"{p['project']}/{flow}", "project": p["project"], "version": p["archive_sha256"],
              "jobs": None, "versions": p["uploads"], "registered_at": p["uploaded_at"],
              "last_run": (p.get("last_runs") or {}).get(flow)}
             for p in projects for flow in p["flows"]]
    if args.json:
        _print_json({"flows": rows})
        return EXIT_OK
    if not rows:
        print("no flows: register one with `kafkaban flow register FILE`, or upload a project with "
              "`kafkaban project upload NAME ARCHIVE.zip`")
        return EXIT_OK
    width = max(len("FLOW"), *(len(row["name"]) for row in rows))
    print(f"{'FLOW':<{width}}  {'VERSION':<19}  {'JOBS':>4}  LAST RUN")
    for row in rows:
        run = row["last_run"]
        last = f"{run['status']} {run['submitted_at']} ({run['execution_id']})" if run else "never run"
        jobs = "-" if row["jobs"] is None else str(row["jobs"])
        print(f"{row['name']:<{width}}  {_short_version(row['version']):<19}  {jobs:>4}  {last}")
    return EXIT_OK


def _short_version(version: str) -> str:
    """``sha256:`` and 12 hex digits: enough to tell versions apart in a table (--json has the whole hash)."""
    algorithm, colon, digest = version.partition(":")
    return f"{algorithm}:{digest[:12]}" if colon else version[:12]


# -- executions -------------------------------------------------------------------------------------------------

def _submit(args: argparse.Namespace, settings: Settings) -> int:
    try:
        params = _params(args.param)
    except ValueError as exc:
        print(f"kafkaban: {exc}", file=sys.stderr)
        return EXIT_USAGE
    body: dict[str, Any] = {"params": params}
    path = Path(args.flow)
    if path.is_file():
        body["definition"] = path.read_text(encoding="utf-8")
        body["flow"] = path.stem
    else:
        body["flow"] = args.flow
    if args.version:
        body["version"] = args.version
    if args.idempotency_key:
        body["idempotency_key"] = args.idempotency_key
    answer = call(settings.api_url, "POST", "/api/v1/executions", body)
    execution_id = answer["execution_id"]
    if not args.wait:
        if args.json:
            _print_json(answer)
        else:
            print(execution_id)
        return EXIT_OK
    status: dict[str, Any] = {"execution_id": execution_id, "status": answer.get("status", "SUBMITTED")}

    def ended() -> dict[str, Any] | None:
        nonlocal status
        try:
            status = call(settings.api_url, "GET", f"/api/v1/executions/{execution_id}")
        except ApiFailure as exc:
            if exc.status != 404:  # not projected yet: keep waiting
                raise
        return status if status["status"] in EXECUTION_TERMINAL else None

    poll_until(ended, args.timeout)  # at the deadline, the status as it stands is shown
    _show_status(_in_flow_order(settings, status) if status.get("jobs") else status, args.json)
    if status["status"] == "SUCCEEDED":
        return EXIT_OK
    if status["status"] in EXECUTION_TERMINAL:
        return EXIT_FAILED
    print(f"kafkaban: still {status['status']} after {args.timeout:g} s", file=sys.stderr)
    return EXIT_STILL_RUNNING


def _show_status(status: dict[str, Any], as_json: bool) -> None:
    if as_json:
        _print_json(status)
        return
    print(f"{status['execution_id']}  {status.get('flow_name', '')}  {status['status']}")
    if status.get("submitter"):
        by = status.get("cancel_requested_by")
        cancelled = f", cancel requested by {by}" if by else ""
        print(f"  submitted by {status['submitter']}{cancelled}")
    for error in status.get("errors") or []:
        print(f"  error: {error}")
    for job in status.get("jobs", []):
        detail = job.get("error") or job.get("reason") or (f"waiting: {job['waiting']}" if job.get("waiting") else "")
        attempt = f" (attempt {job['attempt']})" if job.get("attempt", 0) > 1 else ""
        print(f"  {job['job']:<30} {job['status']:<11}{attempt} {detail}".rstrip())


def _in_flow_order(settings: Settings, status: dict[str, Any]) -> dict[str, Any]:
    """The jobs as the flow runs them (its layout's order), not as the views sort them."""
    try:
        order = call(settings.api_url, "GET", f"/api/v1/executions/{status['execution_id']}/graph")["order"]
    except ApiFailure:
        return status  # no snapshot to order by (an older stack): the view's order
    place = {name: index for index, name in enumerate(order)}
    return {**status, "jobs": sorted(status.get("jobs", []), key=lambda j: (place.get(j["job"], len(place)), j["job"]))}


def _status(args: argparse.Namespace, settings: Settings) -> int:
    path = f"/api/v1/executions/{args.execution_id}"
    if args.as_of:
        path += "?as_of=" + urllib.parse.quote(args.as_of)
    status = _in_flow_order(settings, call(settings.api_url, "GET", path))
    _show_status(status, args.json)
    if args.as_of and not args.json:
        as_of = status["as_of"]
        print(f"  (as of offset {as_of['offset']} of partition {as_of['partition']}, {as_of['time']}, "
              f"{as_of['events']} events)")
    return EXIT_OK


def _history(args: argparse.Namespace, settings: Settings) -> int:
    if args.from_kafka:
        from engine.audit import history_from_kafka
        from engine.codec.json_events import event_to_json

        settings = _with_dev_stack(settings)
        logged = history_from_kafka(settings, args.execution_id)
        events = [{**event_to_json(item.event), "topic": settings.executions_topic, "partition": item.partition,
                   "offset": item.offset} for item in logged]
        for event in events:
            event["occurred_at"] = iso_from_ms(event["occurred_at"])
    else:
        events = call(settings.api_url, "GET", f"/api/v1/executions/{args.execution_id}/events")["events"]
    if not events:
        print(f"kafkaban: no events for execution {args.execution_id}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        _print_json({"execution_id": args.execution_id, "events": events})
        return EXIT_OK
    for event in events:
        payload = event["payload"]
        detail = " ".join(f"{k}={payload[k]}" for k in ("job", "attempt", "worker_id", "error", "reason", "submitter",
                                                         "requested_by")
                          if payload.get(k) not in (None, ""))
        print(f"{event['partition']}:{event['offset']:<8} {event['occurred_at']}  {event['producer']:<8} "
              f"{event['type']:<20} {detail}".rstrip())
    return EXIT_OK


def _progress(label: str) -> Callable[[int, int, float], None]:
    """Progress on stderr with the rate: one line redrawn on a terminal, a line per tenth otherwise. ``total`` is
    an estimate made before reading (the log grows meanwhile), so the fraction stops at 100%."""
    tty = sys.stderr.isatty()
    shown = [-1]

    def show(done: int, total: int, seconds: float) -> None:
        total = max(total, done)
        fraction = done / total if total else 1.0
        rate = done / seconds if seconds > 0 else 0.0
        text = f"{label} {fraction:6.1%} {done:,}/{total:,} events {rate:,.0f} events/s"
        if tty:
            sys.stderr.write(f"\r{label} [{'#' * int(fraction * 30):<30}]{text[len(label):]}")
        elif int(fraction * 10) > shown[0]:
            shown[0] = int(fraction * 10)
            sys.stderr.write(text + "\n")
        sys.stderr.flush()

    return show


def _end_progress() -> None:
    if sys.stderr.isatty():
        sys.stderr.write("\n")


def _replay_verify(args: argparse.Namespace, settings: Settings) -> int:
    from engine.processor.snapshot_check import check_snapshots
    from projections.verify import verify

    settings = _with_dev_stack(settings)
    settings.require_bootstrap()
    settings.require_database()
    report = verify(settings, None if args.json else _progress("verifying"), max_lag=args.max_lag)
    snapshots = check_snapshots(settings)
    ok = report.ok and not snapshots.mismatches
    if args.json:
        _print_json({"ok": ok, "events": report.events, "refused": report.refused,
                     "misplaced": report.misplaced, "lag": report.lag,
                     "max_lag": report.max_lag,
                     "executions": report.executions, "mismatches": report.mismatches,
                     "seconds": round(report.seconds, 3),
                     "snapshots": {"partitions": snapshots.partitions, "states": snapshots.states,
                                   "ended": snapshots.ended, "unusable": snapshots.unusable,
                                   "mismatches": snapshots.mismatches}})
    else:
        _end_progress()
        rate = report.events / report.seconds if report.seconds else 0.0
        print(f"{report.events:,} records read ({report.refused} refused: undecodable or forged; "
              f"{report.misplaced} on another partition than their key's, folded from the engine's copy), "
              f"{report.executions:,} "
              f"executions compared in {report.seconds:.2f} s ({rate:,.0f} events/s): "
              f"{len(report.mismatches)} mismatch{'es' if len(report.mismatches) != 1 else ''}")
        for mismatch in report.mismatches:
            print(f"  MISMATCH {mismatch}")
        print(f"projector lag: {report.lag:,} records of the executions topic not yet projected"
              + (f": more than --max-lag {report.max_lag:,}, so the views are NOT verified" if report.lagging
                 else f" (at most {report.max_lag:,} allowed)"))
        print(f"snapshots: {snapshots.partitions} partition(s) checked against the log ({snapshots.states:,} "
              f"states, {snapshots.ended:,} ended ids): {len(snapshots.mismatches)} mismatch"
              f"{'es' if len(snapshots.mismatches) != 1 else ''}"
              + (f"; partitions {snapshots.unusable} have a snapshot the engine would refuse (it refolds them)"
                 if snapshots.unusable else ""))
        for mismatch in snapshots.mismatches:
            print(f"  MISMATCH {mismatch}")
    return EXIT_OK if ok else EXIT_FAILED


def _projections_rebuild(args: argparse.Namespace, settings: Settings) -> int:
    from projections.rebuild import rebuild

    settings = _with_dev_stack(settings)
    settings.require_bootstrap()
    settings.require_database()
    result = rebuild(settings, _progress("rebuilding"))
    _end_progress()
    print(f"rebuilt schema {result.schema} from {result.events:,} records in {result.seconds:.2f} s "
          f"({result.rate:,.0f} events/s) and swapped it in")
    return EXIT_OK


def _executions(args: argparse.Namespace, settings: Settings) -> int:
    query = {"limit": args.limit, "status": args.status, "flow": args.flow, "since": args.since,
             "until": args.until, "schedule": args.schedule, "cursor": args.cursor}
    answer = call(settings.api_url, "GET", "/api/v1/executions?" + urllib.parse.urlencode(
        {k: v for k, v in query.items() if v is not None}))
    if args.json:
        _print_json(answer)
    else:
        for row in answer["executions"]:
            print(f"{row['execution_id']}  {row['flow_name']:<20} {row['status']:<10} {row['submitted_at']}")
        if answer.get("next_cursor"):
            print(f"more: --cursor {answer['next_cursor']}")
    return EXIT_OK


def _logs(args: argparse.Namespace, settings: Settings) -> int:
    path = (f"/api/v1/executions/{urllib.parse.quote(args.execution_id, safe='')}/jobs/"
            f"{urllib.parse.quote(args.job, safe='/')}/logs")
    query = {"attempt": args.attempt} if args.attempt else {}
    if not args.follow:
        answer = call(settings.api_url, "GET", path + "?" + urllib.parse.urlencode(query))
        for line in answer["lines"]:
            _print_log_line(line, args.json)
        return EXIT_OK
    status = None
    for event, data in stream(settings.api_url, path + "?" + urllib.parse.urlencode({**query, "follow": "true"})):
        if event == "line":
            _print_log_line(data, args.json)
        elif event == "end":
            status = data.get("status")
    return EXIT_OK if status in (None, "SUCCEEDED") else EXIT_FAILED


def _print_log_line(line: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(line, sort_keys=True))
    else:
        print(f"{line['stream']}: {line['line']}")


def _cancel(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "POST", f"/api/v1/executions/{args.execution_id}/cancel",
                  {"reason": args.reason})
    if args.json:
        _print_json(answer)
    else:
        print(f"cancel requested for {answer['execution_id']}")
    return EXIT_OK


# -- the engine key ---------------------------------------------------------------------------------------------

def _engine_key_public(args: argparse.Namespace, settings: Settings) -> int:
    """The public key of the engine's end signatures, for followers: derived from KAFKABAN_ENGINE_KEY (or a running
    dev stack's), so it is the same wherever that key is, and nothing new to keep secret."""
    import base64

    from engine.codec.admission import engine_public_key
    from engine.dev_tokens import stack_for

    engine_key = settings.engine_key or stack_for(settings.api_url).get("engine_key")
    if not engine_key:
        raise ConfigError("KAFKABAN_ENGINE_KEY is not set (nor KAFKABAN_ENGINE_KEY_FILE): the public key is derived "
                          "from the engine's key, so run this where the engine's key is")
    public = engine_public_key(engine_key.encode())
    print(public.hex() if args.hex else base64.b64encode(public).decode())
    return EXIT_OK


# -- running the parts ------------------------------------------------------------------------------------------

def _engine(args: argparse.Namespace, settings: Settings) -> int:
    from engine.processor.app import run

    run(settings)
    return EXIT_OK


def _worker(args: argparse.Namespace, settings: Settings) -> int:
    from workers.jobtypes import JobTypeError
    from workers.runtime import run

    try:
        run(settings, args.pool, args.slots, args.cpu, args.memory, args.jobtypes)
    except JobTypeError as exc:
        print(f"kafkaban: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return EXIT_OK


def _projector(args: argparse.Namespace, settings: Settings) -> int:
    from projections.projector import run

    run(settings)
    return EXIT_OK


def _api(args: argparse.Namespace, settings: Settings) -> int:
    from engine.api.app import run

    run(settings, args.host, args.port)
    return EXIT_OK


def _dev(args: argparse.Namespace, settings: Settings) -> int:
    from engine.dev import run

    return run(settings, args.port, data_dir=args.data_dir, fresh=args.fresh, example=args.example)


def package_version() -> str:
    """The installed distribution's version (pyproject.toml names it once); a source tree run without installing
    has none to report."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("kafkaban")
    except PackageNotFoundError:
        return "(unknown: not installed as a package)"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kafkaban", description="Event-sourced workflow scheduler on Kafka.")
    parser.add_argument("--version", action="version", version=f"kafkaban {package_version()}",
                        help="print the installed version and exit")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True

    flow = commands.add_parser("flow", help="work with flow definitions")
    flow_commands = flow.add_subparsers(dest="flow_command", metavar="FLOW_COMMAND")
    flow_commands.required = True
    validate = flow_commands.add_parser("validate", help="check a flow file and report every problem")
    validate.add_argument("file", help="YAML flow file (Azkaban Flow 2.0 or Kafkaban)")
    validate.add_argument("--json", action="store_true", help="print a JSON report")
    validate.set_defaults(handler=_flow_validate)
    register = flow_commands.add_parser("register", help="register a flow file with the API")
    register.add_argument("file", help="YAML flow file")
    register.add_argument("--json", action="store_true", help="print JSON instead of text")
    register.set_defaults(handler=_flow_register)

    project = commands.add_parser("project", help="upload an Azkaban project archive (zip)")
    project_commands = project.add_subparsers(dest="project_command", metavar="PROJECT_COMMAND")
    project_commands.required = True
    upload = project_commands.add_parser("upload", help="upload NAME ARCHIVE.zip: its flows become NAME/FLOW")
    upload.add_argument("name", help="the project's name")
    upload.add_argument("archive", help="the project zip")
    upload.add_argument("--json", action="store_true", help="print JSON instead of text")
    upload.set_defaults(handler=_project_upload)
    projects = commands.add_parser("projects", help="list projects, or one project's uploads and flows")
    projects.add_argument("name", nargs="?", help="one project (default: list them all)")
    projects.add_argument("--json", action="store_true", help="print JSON instead of text")
    projects.set_defaults(handler=_projects)
    flows = commands.add_parser("flows", help="list the flows a submission may name: registered flows and each "
                                "project's PROJECT/FLOW, with their latest version and last run")
    flows.add_argument("--json", action="store_true", help="print JSON instead of text")
    flows.set_defaults(handler=_flows)

    add_schedule_commands(commands)
    add_access_commands(commands)

    submit = commands.add_parser("submit", help="run a registered flow (by name) or a flow file")
    submit.add_argument("flow", metavar="FLOW_NAME_OR_FILE",
                        help="a registered flow, PROJECT/FLOW of an uploaded project, or a flow file (inline)")
    submit.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a param of the run; repeat for more")
    submit.add_argument("--version", help="version hash of a registered flow (default: latest)")
    submit.add_argument("--idempotency-key", help="submitting again with the same key starts nothing new")
    submit.add_argument("--wait", action="store_true", help="wait for the end; exit 0 only when it SUCCEEDED")
    submit.add_argument("--timeout", type=float, default=600.0, help="seconds --wait waits (then exit 3)")
    submit.add_argument("--json", action="store_true", help="print JSON instead of text")
    submit.set_defaults(handler=_submit)

    status = commands.add_parser("status", help="an execution with its jobs and attempts")
    status.add_argument("execution_id", help="the execution's id")
    status.add_argument("--as-of", help="its state as of a log offset or an ISO-8601 time")
    status.add_argument("--json", action="store_true", help="print JSON instead of text")
    status.set_defaults(handler=_status)

    history = commands.add_parser("history", help="the ordered event history of an execution")
    history.add_argument("execution_id", help="the execution's id")
    history.add_argument("--from-kafka", action="store_true",
                         help="read the executions log itself (needs KAFKABAN_BOOTSTRAP, not the API)")
    history.add_argument("--json", action="store_true", help="print JSON instead of text")
    history.set_defaults(handler=_history)

    replay = commands.add_parser("replay", help="audit the projections against the log")
    replay_commands = replay.add_subparsers(dest="replay_command", metavar="REPLAY_COMMAND")
    replay_commands.required = True
    replay_verify = replay_commands.add_parser("verify", help="fold the log and compare with the projection")
    replay_verify.add_argument("--json", action="store_true", help="print JSON instead of text")
    replay_verify.add_argument("--max-lag", type=int, default=VERIFY_MAX_LAG, metavar="N",
                               help="fail when the projector is more than N records behind the executions topic "
                                    f"(default {VERIFY_MAX_LAG})")
    replay_verify.set_defaults(handler=_replay_verify)

    engine_key = commands.add_parser("engine-key", help="what followers need of the engine's signing key")
    engine_key_commands = engine_key.add_subparsers(dest="engine_key_command", metavar="ENGINE_KEY_COMMAND")
    engine_key_commands.required = True
    public = engine_key_commands.add_parser("public", help="print the public key followers check the engine's ends "
                                            "with (KAFKABAN_ENGINE_PUBLIC_KEY)")
    public.add_argument("--hex", action="store_true", help="in hex rather than base64")
    public.set_defaults(handler=_engine_key_public)

    projections = commands.add_parser("projections", help="manage the PostgreSQL views")
    projection_commands = projections.add_subparsers(dest="projections_command", metavar="PROJECTIONS_COMMAND")
    projection_commands.required = True
    rebuild = projection_commands.add_parser("rebuild", help="replay from offset 0 into fresh tables, then swap")
    rebuild.set_defaults(handler=_projections_rebuild)

    executions = commands.add_parser("executions", help="list executions")
    executions.add_argument("--status", choices=list(ExecutionStatus), type=str.upper,
                            help="only executions in this status")
    executions.add_argument("--flow", help="only executions of this flow")
    executions.add_argument("--since", help="submitted at or after (ISO-8601)")
    executions.add_argument("--until", help="submitted before (ISO-8601)")
    executions.add_argument("--schedule", help="only executions this schedule started")
    executions.add_argument("--cursor", help="next_cursor of a previous page")
    executions.add_argument("--limit", type=int, default=50, help="executions a page (default 50)")
    executions.add_argument("--json", action="store_true", help="print JSON instead of text")
    executions.set_defaults(handler=_executions)

    logs = commands.add_parser("logs", help="a job's output lines (embedded flow jobs as parent/child)")
    logs.add_argument("execution_id", help="the execution's id")
    logs.add_argument("job", help="the job's name")
    logs.add_argument("--attempt", type=int, help="which attempt (default: the current one)")
    logs.add_argument("--follow", action="store_true", help="stream lines until the attempt ends")
    logs.add_argument("--json", action="store_true", help="one JSON object per line")
    logs.set_defaults(handler=_logs)

    cancel = commands.add_parser("cancel", help="cancel an execution")
    cancel.add_argument("execution_id", help="the execution's id")
    cancel.add_argument("--reason", help="why (recorded in the event)")
    cancel.add_argument("--json", action="store_true", help="print JSON instead of text")
    cancel.set_defaults(handler=_cancel)

    engine = commands.add_parser("engine", help="run an engine processor")
    engine.set_defaults(handler=_engine)
    worker = commands.add_parser("worker", help="run a worker of one pool")
    worker.add_argument("--pool", default="default", help="the pool it takes jobs of (default: default)")
    worker.add_argument("--slots", type=int, default=4, help="attempts it runs at once (default 4)")
    worker.add_argument("--cpu", type=float, help="CPUs this worker offers (default: all)")
    worker.add_argument("--memory", type=int, help="MiB this worker offers (default: all)")
    worker.add_argument("--jobtypes", type=Path, metavar="DIR",
                        help="job type plugins: DIR/<type>/plugin.properties (default: KAFKABAN_JOBTYPES_DIR)")
    worker.set_defaults(handler=_worker)
    projector = commands.add_parser("projector", help="run the projector (Kafka -> PostgreSQL)")
    projector.set_defaults(handler=_projector)
    api = commands.add_parser("api", help="run the HTTP API")
    api.add_argument("--host", help="address to listen on (default KAFKABAN_API_HOST)")
    api.add_argument("--port", type=int, help="port to listen on (default KAFKABAN_API_PORT)")
    api.set_defaults(handler=_api)
    dev = commands.add_parser("dev", help="run everything in one command, with an embedded broker and database")
    dev.add_argument("--port", type=int, default=8080, help="the API's and the web UI's port (default 8080)")
    dev.add_argument("--example", action="store_true", help="register and submit the example flow once ready")
    dev.add_argument("--data-dir", type=Path,
                     help="where the broker and database keep their data (default: ~/.local/share/kafkaban/dev)")
    dev.add_argument("--fresh", action="store_true", help="start empty: remove the data directory's broker and "
                     "database data first")
    dev.set_defaults(handler=_dev)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        try:
            return _main(argv)
        finally:
            sys.stdout.flush()  # a reader gone away shows here, not in the interpreter's last flush at exit
    except BrokenPipeError:
        # the reader closed the pipe (`| head`): stop quietly, as a Unix tool ended by SIGPIPE does; stdout now goes
        # nowhere, so the interpreter's own flush at exit does not raise again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("pgserver", "faust", "mode", "aiokafka"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    try:
        settings = Settings.from_env()
        return int(args.handler(args, settings))
    except ConfigError as exc:
        print(f"kafkaban: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokerUnavailable as exc:
        print(f"kafkaban: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ApiUnreachable as exc:
        print(f"kafkaban: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except ApiFailure as exc:
        print(f"kafkaban: {exc.message} (HTTP {exc.status})", file=sys.stderr)
        for detail in exc.details or []:
            print(f"  - {readable(detail)}", file=sys.stderr)
        return EXIT_USAGE if exc.status in USAGE_STATUSES else EXIT_FAILED


if __name__ == "__main__":
    sys.exit(main())
