"""The ``kafkaban`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from engine.domain.loader import check_flow
from engine.domain.spec import FlowSpec

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _flow_validate(args: argparse.Namespace) -> int:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"kafkaban: cannot read {path}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    spec, problems = check_flow(text, default_name=path.stem)
    valid = not problems and spec is not None
    if args.json:
        report: dict[str, object] = {"file": str(path), "valid": valid, "errors": [p.to_dict() for p in problems]}
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


def _summary(spec: FlowSpec) -> dict[str, object]:
    return {
        "flow": spec.name,
        "version": spec.version_hash(),
        "jobs": len(spec.jobs),
        "roots": list(spec.roots),
        "pools": sorted({job.pool for job in spec.jobs}),
        "failure_policy": spec.failure_policy.value,
        "params": dict(spec.params),
    }


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kafkaban", description="Event-sourced workflow scheduler on Kafka.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    flow = commands.add_parser("flow", help="work with flow definitions")
    flow_commands = flow.add_subparsers(dest="flow_command", metavar="FLOW_COMMAND")
    flow_commands.required = True
    validate = flow_commands.add_parser("validate", help="check a flow file and report every problem")
    validate.add_argument("file", help="YAML flow file (Azkaban Flow 2.0 or Kafkaban)")
    validate.add_argument("--json", action="store_true", help="print a JSON report")
    validate.set_defaults(handler=_flow_validate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return int(args.handler(args))


if __name__ == "__main__":
    sys.exit(main())
