"""``kafkaban user|token|group|grant``: who may do what, through the API (each change is a record of the access
log). Passwords are read from --password, or from standard input with --password-stdin so they stay out of the
shell's history and the process list; they are never printed."""

from __future__ import annotations

import argparse
import sys
import urllib.parse
from typing import Any

from engine.cli.common import EXIT_OK, print_json
from engine.client import call
from engine.config import ConfigError, Settings


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _password(args: argparse.Namespace) -> str:
    if args.password_stdin:
        return sys.stdin.readline().rstrip("\n")
    if args.password is None:
        raise ConfigError("give the password with --password P or --password-stdin")
    return str(args.password)


def _show(args: argparse.Namespace, answer: Any, text: str) -> int:
    print_json(answer) if args.json else print(text)
    return EXIT_OK


def _user_add(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "POST", "/api/v1/users", {
        "name": args.name, "password": _password(args), "roles": args.role, "groups": args.group})
    return _show(args, answer, f"added user {answer['user']} (roles: {', '.join(answer['roles']) or 'none'}; "
                               f"groups: {', '.join(answer['groups']) or 'none'})")


def _user_passwd(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "PUT", f"/api/v1/users/{_q(args.name)}/password", {"password": _password(args)})
    return _show(args, answer, f"changed the password of {args.name}")


def _user_roles(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "PUT", f"/api/v1/users/{_q(args.name)}/roles",
                  {"roles": args.role, "groups": args.group})
    return _show(args, answer, f"{args.name}: roles {', '.join(answer['roles']) or 'none'}; groups "
                               f"{', '.join(answer['groups']) or 'none'}")


def _user_list(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "GET", "/api/v1/users")
    if args.json:
        print_json(answer)
        return EXIT_OK
    for user in answer["users"]:
        roles, groups = ",".join(user["roles"]) or "-", ",".join(user["groups"]) or "-"
        print(f"{user['name']:<24} roles: {roles:<30} groups: {groups}")
    return EXIT_OK


def _user_delete(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "DELETE", f"/api/v1/users/{_q(args.name)}")
    return _show(args, answer, f"deleted user {args.name}; its tokens no longer authenticate")


def _token_create(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "POST", "/api/v1/tokens", {
        "user": args.user, "expires": args.expires, "description": args.description or ""})
    if args.json:
        print_json({"token": answer["token"], "token_id": answer["token_id"], "user": answer["user"],
                    "expires_at": answer["expires_at"]})
        return EXIT_OK
    print(answer["token"])
    print(f"token {answer['token_id']} for {answer['user']}, expires {answer['expires_at'] or 'never'}; it is "
          f"shown this once", file=sys.stderr)
    return EXIT_OK


def _token_list(args: argparse.Namespace, settings: Settings) -> int:
    path = "/api/v1/tokens" + (f"?user={_q(args.user)}" if args.user else "")
    answer = call(settings.api_url, "GET", path)
    if args.json:
        print_json(answer)
        return EXIT_OK
    for token in answer["tokens"]:
        state = f"revoked {token['revoked_at']}" if token["revoked_at"] else f"expires {token['expires_at'] or 'never'}"
        print(f"{token['token_id']}  {token['user']:<20} {state:<40} {token['description']}")
    return EXIT_OK


def _token_revoke(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "DELETE", f"/api/v1/tokens/{_q(args.token_id)}")
    return _show(args, answer, f"revoked token {args.token_id}")


def _group_set(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "PUT", f"/api/v1/groups/{_q(args.name)}/roles", {"roles": args.role})
    return _show(args, answer, f"group {args.name}: roles {', '.join(answer['roles']) or 'none'}")


def _group_list(args: argparse.Namespace, settings: Settings) -> int:
    answer = call(settings.api_url, "GET", "/api/v1/groups")
    if args.json:
        print_json(answer)
        return EXIT_OK
    for group in answer["groups"]:
        print(f"{group['name']:<24} roles: {','.join(group['roles']) or '-'}")
    return EXIT_OK


def _grant(args: argparse.Namespace, settings: Settings) -> int:
    kind, name = ("group", args.group) if args.group else ("user", args.user)
    if not name:
        raise ConfigError("grant to --user NAME or --group NAME")
    answer = call(settings.api_url, "PUT", f"/api/v1/projects/{_q(args.project)}/permissions/{kind}/{_q(name)}",
                  {"permissions": args.permission})
    return _show(args, answer, f"project {args.project}: {kind} {name} has "
                               f"{', '.join(answer['permissions']) or 'nothing (grant removed)'}")


def _json(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the API's answer as JSON")


def _with_password(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--password", help="the password (visible to other local users: prefer --password-stdin)")
    parser.add_argument("--password-stdin", action="store_true", help="read the password from standard input")


def add_access_commands(commands: Any) -> None:
    user = commands.add_parser("user", help="local users: add, passwd, roles, list, delete")
    users = user.add_subparsers(dest="user_command", metavar="USER_COMMAND", required=True)
    add = users.add_parser("add", help="add a user (ADMIN)")
    add.add_argument("name", help="the new user's name")
    _with_password(add)
    add.add_argument("--role", action="append", default=[], metavar="ROLE",
                     help="a global role: ADMIN, READ, WRITE, EXECUTE, SCHEDULE, CREATEPROJECTS, RUN_INLINE")
    add.add_argument("--group", action="append", default=[], metavar="GROUP", help="a group the user belongs to")
    _json(add)
    add.set_defaults(handler=_user_add)
    passwd = users.add_parser("passwd", help="change a password (your own, or anyone's as ADMIN)")
    passwd.add_argument("name", help="whose password")
    _with_password(passwd)
    _json(passwd)
    passwd.set_defaults(handler=_user_passwd)
    roles = users.add_parser("roles", help="replace a user's roles and groups (ADMIN)")
    roles.add_argument("name", help="the user")
    roles.add_argument("--role", action="append", default=[], metavar="ROLE",
                       help="a global role (READ, WRITE, EXECUTE, SCHEDULE, ADMIN, ...); repeat for more")
    roles.add_argument("--group", action="append", default=[], metavar="GROUP",
                       help="a group the user is in; repeat for more")
    _json(roles)
    roles.set_defaults(handler=_user_roles)
    listing = users.add_parser("list", help="list users (ADMIN)")
    _json(listing)
    listing.set_defaults(handler=_user_list)
    delete = users.add_parser("delete", help="delete a user: its tokens and sessions stop working (ADMIN)")
    delete.add_argument("name", help="the user")
    _json(delete)
    delete.set_defaults(handler=_user_delete)

    token = commands.add_parser("token", help="API tokens: create, list, revoke")
    tokens = token.add_subparsers(dest="token_command", metavar="TOKEN_COMMAND", required=True)
    create = tokens.add_parser("create", help="create a token (printed once; stored only as a hash)")
    create.add_argument("--user", help="whose token (default: yours; another user's needs ADMIN)")
    create.add_argument("--expires", metavar="DURATION", help="e.g. 30d, 12h (default: never)")
    create.add_argument("--description", help="what the token is for")
    _json(create)
    create.set_defaults(handler=_token_create)
    token_list = tokens.add_parser("list", help="list tokens (never their secrets)")
    token_list.add_argument("--user", help="another user's tokens (ADMIN)")
    _json(token_list)
    token_list.set_defaults(handler=_token_list)
    revoke = tokens.add_parser("revoke", help="revoke a token by its id")
    revoke.add_argument("token_id", help="the token's id (kafkaban token list)")
    _json(revoke)
    revoke.set_defaults(handler=_token_revoke)

    group = commands.add_parser("group", help="groups: the global roles of their members")
    groups = group.add_subparsers(dest="group_command", metavar="GROUP_COMMAND", required=True)
    group_set = groups.add_parser("set", help="set a group's roles (ADMIN)")
    group_set.add_argument("name", help="the group")
    group_set.add_argument("--role", action="append", default=[], metavar="ROLE",
                           help="a global role of the group's members; repeat for more")
    _json(group_set)
    group_set.set_defaults(handler=_group_set)
    group_list = groups.add_parser("list", help="list groups and their roles (ADMIN)")
    _json(group_list)
    group_list.set_defaults(handler=_group_list)

    grant = commands.add_parser("grant", help="grant a user or group permissions on a project (project ADMIN)")
    grant.add_argument("project", help="project name (`default`: flows registered without a project)")
    who = grant.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="grant to this user")
    who.add_argument("--group", help="grant to this group")
    grant.add_argument("--permission", action="append", default=[], metavar="PERMISSION",
                       help="READ, WRITE, EXECUTE, SCHEDULE or ADMIN (repeat; none removes the grant)")
    _json(grant)
    grant.set_defaults(handler=_grant)
