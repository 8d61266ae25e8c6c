"""``kafkaban schedule create|list|show|update|pause|resume|delete|trigger|backfill|preview``: schedules through the API
(``preview`` computes locally, so a cron and a time zone can be checked with nothing running)."""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from typing import Any

from engine.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, params, print_json
from engine.client import call
from engine.clock import now_ms
from engine.config import Settings
from engine.schedule_requests import ScheduleRequestError, preview


def _path(schedule_id: str, action: str = "") -> str:
    return f"/api/v1/schedules/{urllib.parse.quote(schedule_id, safe='')}" + (f"/{action}" if action else "")


def _spec_body(args: argparse.Namespace) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for name in ("flow", "cron", "timezone", "version", "start", "end", "overlap", "catchup", "catchup_window",
                 "jitter"):
        value = getattr(args, name, None)
        if value is not None:
            body[name] = value
    if args.param:
        body["params"] = params(args.param)
    return body


def _create(args: argparse.Namespace, settings: Settings) -> int:
    body = {**_spec_body(args), "by": args.by}
    if args.id:
        body["schedule_id"] = args.id
    answer = call(settings.api_url, "POST", "/api/v1/schedules", body)
    if args.json:
        print_json(answer)
        return EXIT_OK
    print(f"created schedule {answer['schedule_id']} for {args.flow} ({args.cron}, {args.timezone or 'UTC'})")
    for fire in answer.get("next_fires", []):
        print(f"  next: {fire['local']}")
    return EXIT_OK


def _update(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "PATCH", _path(args.schedule_id), {**_spec_body(args), "by": args.by})
    print_json(answer) if args.json else print(f"updated schedule {args.schedule_id}")
    return EXIT_OK


def _list(args: argparse.Namespace, settings: Settings) -> int:
    query = urllib.parse.urlencode({k: v for k, v in (("flow", args.flow), ("deleted", "true" if args.deleted
                                                                                   else None)) if v})
    answer = call(settings.api_url, "GET", "/api/v1/schedules" + (f"?{query}" if query else ""))
    if args.json:
        print_json(answer)
        return EXIT_OK
    for s in answer["schedules"]:
        print(f"{s['schedule_id']:<28} {s['status']:<8} {s['flow']:<20} {s['cron']:<18} {s['timezone']:<16} "
              f"next {s['next_fire_at'] or '-'}  last {s['last_status'] or '-'}")
    if not answer["schedules"]:
        print("no schedules")
    return EXIT_OK


def _show(args: argparse.Namespace, settings: Settings) -> int:
    s = call(settings.api_url, "GET", _path(args.schedule_id) + f"?fires={args.fires}")
    if args.json:
        print_json(s)
        return EXIT_OK
    print(f"schedule {s['schedule_id']}: {s['status']}, flow {s['flow']}"
          + (f" (version {s['version']})" if s["version"] else ""))
    print(f"  when: {s['cron']} in {s['timezone']}; overlap {s['overlap']}; catch-up {s['catchup']} within "
          f"{s['catchup_window_ms'] // 1000} s" + (f"; jitter {s['jitter_ms']} ms" if s["jitter_ms"] else ""))
    print(f"  next fire: {s['next_fire_at'] or '-'}; fired {s['fired']}, skipped {s['skipped']}; running: "
          f"{', '.join(r['execution_id'] for r in s['running']) or '-'}")
    for b in s.get("backfills", []):
        print(f"  backfill {b['backfill_id']}: {b['range_start']} .. {b['range_end']}, {b['status']}"
              f" ({b['ticks']} tick(s) decided, through {b['decided_through'] or '-'})"
              + (f": {b['reason']}" if b["reason"] else ""))
    for fire in s.get("fires", []):
        what = fire["execution_id"] + f" ({fire['execution_status'] or 'SUBMITTED'})" if fire["execution_id"] else \
            (fire["reason"] or "")
        through = f" .. {fire['through']}" if fire["through"] != fire["logical_time"] else ""
        print(f"  {fire['logical_time']}{through}  {fire['outcome']:<8} {what}")
    return EXIT_OK


def _control(action: str) -> Any:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        body: dict[str, Any] = {"by": args.by}
        if getattr(args, "note", None):
            body["note"] = args.note
        if action == "delete":
            answer = call(settings.api_url, "DELETE", _path(args.schedule_id), body)
        else:
            answer = call(settings.api_url, "POST", _path(args.schedule_id, action), body)
        print_json(answer) if args.json else print(f"schedule {args.schedule_id}: {action} requested")
        return EXIT_OK
    return handler


def _backfill(args: argparse.Namespace, settings: Settings) -> int:
    body: dict[str, Any] = {"from": getattr(args, "from"), "to": args.to, "by": args.by,
                            "max_per_minute": args.max_per_minute}
    if args.overlap:
        body["overlap"] = args.overlap
    if args.id:
        body["backfill_id"] = args.id
    answer = call(settings.api_url, "POST", _path(args.schedule_id, "backfill"), body)
    if args.json:
        print_json(answer)
    else:
        print(f"backfill {answer['backfill_id']} of schedule {args.schedule_id}: {answer['ticks']} tick(s); follow "
              f"it with: kafkaban schedule show {args.schedule_id}")
    return EXIT_OK


def _preview(args: argparse.Namespace, settings: Settings) -> int:
    try:
        fires = preview(args.cron, args.timezone, getattr(args, "from"), args.count, now_ms())
    except ScheduleRequestError as exc:
        print(f"kafkaban: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print_json({"cron": args.cron, "timezone": args.timezone, "fires": fires})
    else:
        for fire in fires:
            print(f"{fire['local']}   ({fire['utc']} UTC)")
    if not fires:  # a schedule of it would be accepted and never start anything: say so, and fail
        print(f"kafkaban: {args.cron!r} never fires: no date after the start matches it", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def _spec_arguments(parser: argparse.ArgumentParser, creating: bool) -> None:
    if creating:
        parser.add_argument("flow", help="a registered flow's name, or PROJECT/FLOW")
        parser.add_argument("--cron", required=True,
                            help="Unix cron (5 fields), Quartz cron (6-7, seconds first), @daily, or 'every 15m'")
    else:
        parser.add_argument("--flow", help="run another flow (NAME or PROJECT/FLOW)")
        parser.add_argument("--cron", help="a new expression (as for create)")
    parser.add_argument("--tz", "--timezone", dest="timezone", help="IANA time zone (default UTC)")
    parser.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                        help="a param of each run; repeat for more")
    parser.add_argument("--version", help="pin a flow version hash or a project archive sha256")
    parser.add_argument("--start", help="no tick before (ISO-8601; without an offset, in --tz)")
    parser.add_argument("--end", help="no tick after")
    parser.add_argument("--overlap", choices=["skip", "buffer_one", "buffer_all", "cancel_other", "terminate_other",
                                              "allow_all"],
                        help="when the last run is still going at a tick (default skip)")
    parser.add_argument("--catchup", choices=["none", "latest", "all"],
                        help="ticks missed while the engine was down: none, the latest, or all of them")
    parser.add_argument("--catchup-window", help="how old a missed tick may be and still fire (e.g. 1h)")
    parser.add_argument("--jitter", help="fire each tick up to this much late (e.g. 30s), a fixed amount per tick")


def add_schedule_commands(commands: Any) -> None:
    schedule = commands.add_parser("schedule", help="run flows on cron schedules")
    sub = schedule.add_subparsers(dest="schedule_command", metavar="SCHEDULE_COMMAND")
    sub.required = True

    create = sub.add_parser("create", help="schedule a flow")
    _spec_arguments(create, creating=True)
    create.add_argument("--id", help="the schedule's id (default: a new uuid)")
    create.set_defaults(handler=_create)

    update = sub.add_parser("update", help="change a schedule (options not given stay as they are)")
    update.add_argument("schedule_id", help="the schedule's id")
    _spec_arguments(update, creating=False)
    update.set_defaults(handler=_update)

    listing = sub.add_parser("list", help="list schedules")
    listing.add_argument("--flow", help="only the schedules of this flow")
    listing.add_argument("--deleted", action="store_true", help="include deleted schedules")
    listing.set_defaults(handler=_list)

    show = sub.add_parser("show", help="a schedule with its latest ticks and what each started")
    show.add_argument("schedule_id", help="the schedule's id")
    show.add_argument("--fires", type=int, default=20, help="how many ticks to show")
    show.set_defaults(handler=_show)

    for action, text in (("pause", "stop firing until resumed"), ("resume", "fire again (the paused ticks start "
                         "nothing)"), ("trigger", "run the flow now, once"), ("delete", "fire no more")):
        parser = sub.add_parser(action, help=text)
        parser.add_argument("schedule_id", help="the schedule's id")
        if action == "pause":
            parser.add_argument("--note", help="why")
        parser.set_defaults(handler=_control(action))

    backfill = sub.add_parser("backfill", help="run the ticks of a past range, each as an execution of its own")
    backfill.add_argument("schedule_id", help="the schedule's id")
    backfill.add_argument("--from", required=True, help="ISO-8601 (without an offset: in the schedule's zone)")
    backfill.add_argument("--to", required=True, help="end of the range, ISO-8601 (as --from)")
    backfill.add_argument("--overlap", choices=["wait", "skip", "allow_all"],
                          help="wait (default): one run after another; skip: skip a tick while a run goes on")
    backfill.add_argument("--max-per-minute", type=int, default=0, help="pace (0: no limit)")
    backfill.add_argument("--id", help="the backfill's id (default: a new uuid)")
    backfill.set_defaults(handler=_backfill)

    preview_parser = sub.add_parser("preview", help="print the next fire times of an expression (no API needed)")
    preview_parser.add_argument("cron", help="the expression, as for create")
    preview_parser.add_argument("--tz", "--timezone", dest="timezone", default="UTC",
                                help="IANA time zone (default UTC)")
    preview_parser.add_argument("--from", help="start from this time (ISO-8601, in --tz; default now)")
    preview_parser.add_argument("--count", type=int, default=10, help="how many fire times (default 10)")
    preview_parser.set_defaults(handler=_preview)

    for parser in (create, update, listing, show, preview_parser, backfill, *[sub.choices[a] for a in
                                                                   ("pause", "resume", "trigger", "delete")]):
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
        if parser not in (listing, show, preview_parser):
            parser.add_argument("--by", default="cli", help="who does this (recorded in the event)")
