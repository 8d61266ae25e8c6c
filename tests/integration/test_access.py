"""Who may do what, on a real stack: every route refuses a caller without identity, a READ token cannot cancel, a
project's EXECUTE does not reach another project, the recorded identity is the authenticated one whatever the body
says, tokens and sessions end when they should, and a web page the operator visits can neither write nor learn
anything. Each refusal changes nothing in the log."""

from __future__ import annotations

import http.client
import json
import time
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest

from engine.client import ApiFailure, call
from tests.integration.stack import Stack
from tests.integration.test_api_cli import cli, error_of
from tests.integration.test_projects import make_zip, upload

SLEEPER = "name: {name}\nnodes: [{{name: s, type: command, config: {{command: 'sleep 60'}}}}]"
PASSWORD = "correct horse battery"


def user(stack: Stack, roles: tuple[str, ...] = (), groups: tuple[str, ...] = ()) -> tuple[str, str]:
    """A new user with a token of its own: (name, token)."""
    name = f"u{uuid.uuid4().hex[:8]}"
    stack.api("POST", "/api/v1/users", {"name": name, "password": PASSWORD, "roles": list(roles),
                                        "groups": list(groups)})
    return name, stack.api("POST", "/api/v1/tokens", {"user": name})["token"]


def as_(stack: Stack, token: str | None, method: str, path: str, body: Any = None, **kwargs: Any) -> Any:
    return call(stack.url, method, path, body, token=token or "", **kwargs)


def raw(stack: Stack, method: str, path: str, headers: dict[str, str], body: bytes = b"",
        source: str = "127.0.0.1") -> tuple[int, dict[str, str], Any]:
    """A request exactly as given (Host, Origin, cookies), from a chosen loopback address."""
    url = urlsplit(stack.url)
    connection = http.client.HTTPConnection(url.hostname, url.port, timeout=30, source_address=(source, 0))
    connection.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
    for name, value in {"Host": f"127.0.0.1:{url.port}", "Content-Length": str(len(body)), **headers}.items():
        connection.putheader(name, value)
    connection.endheaders(body)
    answer = connection.getresponse()
    data = answer.read()
    connection.close()
    try:
        decoded = json.loads(data)
    except ValueError:
        decoded = data
    return answer.status, {k.lower(): v for k, v in answer.getheaders()}, decoded


def events_of(stack: Stack, execution_id: str) -> list[str]:
    return [e["type"] for e in stack.api("GET", f"/api/v1/executions/{execution_id}/events")["events"]]


def test_every_route_refuses_a_caller_without_identity(stack: Stack):
    schema = stack.api("GET", "/openapi.json")
    public = {"/healthz", "/api/v1/login", "/api/v1/logout"}
    walked = 0
    for path, operations in schema["paths"].items():
        concrete = path.replace("{", "").replace("}", "").replace(":path", "")
        for method in operations:
            status, headers, body = raw(stack, method.upper(), concrete, {})
            if path in public:
                continue
            walked += 1
            assert status == 401, (method, path, status, body)
            assert headers.get("www-authenticate", "").startswith("Bearer"), (method, path)
            assert body["error"]["status"] == 401
            # a token that is not one, and a scheme that is not Bearer, are refused the same way
            assert raw(stack, method.upper(), concrete, {"Authorization": "Bearer kbt_0000000000000000_" + "x" * 43}
                       )[0] == 401, (method, path)
            assert raw(stack, method.upper(), concrete, {"Authorization": "Basic YWRtaW46YWRtaW4="})[0] == 401
    assert walked >= 30, walked  # the walk covered the API, not a few routes


def test_a_write_without_identity_writes_nothing(stack: Stack):
    before = stack.api("GET", "/api/v1/executions?limit=1000")["executions"]
    flows = stack.api("GET", "/api/v1/flows")["flows"]
    for method, path, body in (("POST", "/api/v1/executions", {"definition": SLEEPER.format(name="anon")}),
                               ("POST", "/api/v1/flows", None), ("POST", "/api/v1/schedules", {"flow": "x"})):
        with pytest.raises(ApiFailure) as refused:
            as_(stack, None, method, path, body, **({"raw": b"nodes: []", "content_type": "text/yaml"}
                                                    if body is None else {}))
        assert refused.value.status == 401
    assert stack.api("GET", "/api/v1/executions?limit=1000")["executions"] == before
    assert stack.api("GET", "/api/v1/flows")["flows"] == flows


def test_a_read_token_cannot_cancel_and_no_cancel_reaches_the_log(stack: Stack):
    _, reader = user(stack, roles=("READ",))
    execution_id = stack.submit(definition=SLEEPER.format(name="read-only"))
    stack.wait_for(execution_id, {"RUNNING"}, job="s", timeout=60)
    assert as_(stack, reader, "GET", f"/api/v1/executions/{execution_id}")["status"] == "RUNNING"
    refused = error_of(lambda: as_(stack, reader, "POST", f"/api/v1/executions/{execution_id}/cancel", {}))
    assert refused.status == 403 and "EXECUTE" in refused.message
    # nor may it submit, register, or schedule
    assert error_of(lambda: as_(stack, reader, "POST", "/api/v1/executions",
                                {"definition": SLEEPER.format(name="x")})).status == 403
    assert error_of(lambda: as_(stack, reader, "POST", "/api/v1/flows", raw=b"nodes: [{name: a, type: noop}]",
                                content_type="text/yaml")).status == 403
    time.sleep(1)  # a cancel, had one been written, would be folded by now
    assert "CancelRequested" not in events_of(stack, execution_id)
    stack.api("POST", f"/api/v1/executions/{execution_id}/cancel", {})
    assert stack.wait_for(execution_id)["status"] == "CANCELLED"


def test_execute_on_project_a_does_not_run_a_flow_of_project_b(stack: Stack):
    archive = make_zip({"p.project": "azkaban-flow-version: 2.0", "work.flow": "nodes: [{name: a, type: noop}]"})
    project_a, project_b = f"a{uuid.uuid4().hex[:6]}", f"b{uuid.uuid4().hex[:6]}"
    upload(stack, project_a, archive)
    upload(stack, project_b, archive)
    name, token = user(stack)
    stack.api("PUT", f"/api/v1/projects/{project_a}/permissions/user/{name}", {"permissions": ["EXECUTE", "READ"]})
    ran = as_(stack, token, "POST", "/api/v1/executions", {"flow": f"{project_a}/work"})
    assert stack.wait_for(ran["execution_id"])["status"] == "SUCCEEDED"
    refused = error_of(lambda: as_(stack, token, "POST", "/api/v1/executions", {"flow": f"{project_b}/work"}))
    assert refused.status == 403 and project_b in refused.message
    # what the user lists is what it may read: project A's run, none of B's
    listed = as_(stack, token, "GET", "/api/v1/executions?limit=1000")["executions"]
    assert {row["project"] for row in listed} == {project_a}
    assert [p["project"] for p in as_(stack, token, "GET", "/api/v1/projects")["projects"]] == [project_a]
    # a group grant works for its members
    member, member_token = user(stack, groups=("crew",))
    stack.api("PUT", f"/api/v1/projects/{project_b}/permissions/group/crew", {"permissions": ["EXECUTE", "READ"]})
    assert as_(stack, member_token, "POST", "/api/v1/executions", {"flow": f"{project_b}/work"})["submitter"] == member
    assert error_of(lambda: as_(stack, member_token, "POST", "/api/v1/executions",
                                {"flow": f"{project_a}/work"})).status == 403


def test_a_new_project_needs_createprojects_and_its_uploader_becomes_its_admin(stack: Stack):
    archive = make_zip({"p.project": "azkaban-flow-version: 2.0", "work.flow": "nodes: [{name: a, type: noop}]"})
    _, plain = user(stack)
    project = f"c{uuid.uuid4().hex[:6]}"
    refused = error_of(lambda: call(stack.url, "POST", f"/api/v1/projects/{project}", raw=archive,
                                    content_type="application/zip", token=plain))
    assert refused.status == 403 and "CREATEPROJECTS" in refused.message
    assert error_of(lambda: stack.api("GET", f"/api/v1/projects/{project}")).status == 404
    creator, token = user(stack, roles=("CREATEPROJECTS",))
    call(stack.url, "POST", f"/api/v1/projects/{project}", raw=archive, content_type="application/zip", token=token)
    grants = as_(stack, token, "GET", f"/api/v1/projects/{project}/permissions")["permissions"]
    assert [(g["kind"], g["name"], g["permissions"]) for g in grants] == [("user", creator, ["ADMIN"])]
    assert as_(stack, token, "POST", "/api/v1/executions", {"flow": f"{project}/work"})["submitter"] == creator


def test_the_recorded_identity_is_the_authenticated_one_whatever_the_body_says(stack: Stack):
    name, token = user(stack, roles=("EXECUTE", "READ", "RUN_INLINE"))
    answer = as_(stack, token, "POST", "/api/v1/executions",
                 {"definition": SLEEPER.format(name="claimed"), "submitter": "mallory"})
    execution_id = answer["execution_id"]
    assert answer["submitter"] == name
    stack.wait_for(execution_id, {"RUNNING"}, job="s", timeout=60)
    as_(stack, token, "POST", f"/api/v1/executions/{execution_id}/cancel", {"requested_by": "mallory"})
    ended = stack.wait_for(execution_id)
    assert ended["submitter"] == name and ended["cancel_requested_by"] == name
    history = stack.api("GET", f"/api/v1/executions/{execution_id}/events")["events"]
    assert history[0]["payload"]["submitter"] == name
    assert [e["payload"]["requested_by"] for e in history if e["type"] == "CancelRequested"] == [name]
    # the CLI shows who did it
    shown = cli(stack, "status", execution_id)
    assert f"submitted by {name}" in shown.stdout, shown.stdout + shown.stderr
    assert "mallory" not in json.dumps(ended)


def test_an_inline_definition_needs_its_own_permission(stack: Stack):
    _, executor = user(stack, roles=("EXECUTE",))
    refused = error_of(lambda: as_(stack, executor, "POST", "/api/v1/executions",
                                   {"definition": "nodes: [{name: a, type: noop}]"}))
    assert refused.status == 403 and "RUN_INLINE" in refused.message


def test_tokens_are_shown_once_revocable_and_expire(stack: Stack):
    name, token = user(stack, roles=("READ",))
    assert as_(stack, token, "GET", "/api/v1/me")["user"] == name
    listed = stack.api("GET", f"/api/v1/tokens?user={name}")["tokens"]
    assert len(listed) == 1 and token not in json.dumps(listed) and token.split("_")[2] not in json.dumps(listed)
    stack.api("DELETE", f"/api/v1/tokens/{listed[0]['token_id']}")
    assert error_of(lambda: as_(stack, token, "GET", "/api/v1/me")).status == 401
    short = stack.api("POST", "/api/v1/tokens", {"user": name, "expires": "2s"})["token"]
    assert as_(stack, short, "GET", "/api/v1/me")["user"] == name
    time.sleep(2.5)
    assert "expired" in error_of(lambda: as_(stack, short, "GET", "/api/v1/me")).message
    # a deleted user's tokens stop at once
    other, other_token = user(stack)
    stack.api("DELETE", f"/api/v1/users/{other}")
    assert error_of(lambda: as_(stack, other_token, "GET", "/api/v1/me")).status == 401
    # a user may make its own tokens, never another's
    own = stack.api("POST", "/api/v1/tokens", {"user": name})["token"]
    assert as_(stack, own, "POST", "/api/v1/tokens", {})["user"] == name
    assert error_of(lambda: as_(stack, own, "POST", "/api/v1/tokens", {"user": "someone"})).status == 403


def test_the_access_history_shows_who_granted_what_and_no_secret(stack: Stack):
    name, _ = user(stack, roles=("READ",))
    history = stack.api("GET", f"/api/v1/access/events?subject=user:{name}")["events"]
    assert [(e["type"], e["by"]) for e in reversed(history)] == [("UserAdded", "admin"), ("TokenCreated", "admin")]
    text = json.dumps(history)
    assert "password_hash" not in text and "secret_sha256" not in text and PASSWORD not in text


def test_a_browser_session_needs_its_csrf_token_to_write(stack: Stack):
    name, _ = user(stack, roles=("EXECUTE", "READ"))
    status, _, body = raw(stack, "POST", "/api/v1/login", {"Content-Type": "application/json"},
                          json.dumps({"username": name, "password": "wrong password"}).encode())
    assert status == 401 and PASSWORD not in json.dumps(body)
    status, headers, body = raw(stack, "POST", "/api/v1/login", {"Content-Type": "application/json"},
                                json.dumps({"username": name, "password": PASSWORD}).encode())
    assert status == 200 and body["user"] == name
    cookie = headers["set-cookie"]
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    session = cookie.split(";", 1)[0]
    status, _, me = raw(stack, "GET", "/api/v1/me", {"Cookie": session})
    assert status == 200 and me["user"] == name and me["via"] == "session"
    execution_id = stack.submit(definition=SLEEPER.format(name="csrf"))
    stack.wait_for(execution_id, {"RUNNING"}, job="s", timeout=60)
    status, _, refused = raw(stack, "POST", f"/api/v1/executions/{execution_id}/cancel", {"Cookie": session})
    assert status == 403 and "X-CSRF-Token" in refused["error"]["message"]
    assert "CancelRequested" not in events_of(stack, execution_id)
    status, _, _ = raw(stack, "POST", f"/api/v1/executions/{execution_id}/cancel",
                       {"Cookie": session, "X-CSRF-Token": body["csrf_token"]})
    assert status == 202
    # a changed password ends the sessions opened before it
    stack.api("PUT", f"/api/v1/users/{name}/password", {"password": "another long password"})
    assert raw(stack, "GET", "/api/v1/me", {"Cookie": session})[0] == 401
    forged = session[:-4] + ("AAAA" if not session.endswith("AAAA") else "BBBB")
    assert raw(stack, "GET", "/api/v1/me", {"Cookie": forged})[0] == 401


def test_a_page_the_operator_visits_can_neither_write_nor_read(stack: Stack):
    flows = stack.api("GET", "/api/v1/flows")["flows"]
    trigger = b"name: evil\ntrigger: {schedule: {type: cron, value: '* * * * * ?'}}\nnodes: [{name: a, type: noop}]"
    page = {"Origin": "http://evil.example", "Content-Type": "text/plain", "Sec-Fetch-Site": "cross-site"}
    # even with the operator's credentials attached (a cookie would be; a bearer token cannot be)
    status, _, body = raw(stack, "POST", "/api/v1/flows", {**page, "Authorization": f"Bearer {stack.token}"}, trigger)
    assert status == 403 and "origin" in body["error"]["message"]
    assert raw(stack, "POST", "/api/v1/flows", page, trigger)[0] == 403
    execution_id = stack.submit(definition=SLEEPER.format(name="visited"))
    stack.wait_for(execution_id, {"RUNNING"}, job="s", timeout=60)
    assert raw(stack, "POST", f"/api/v1/executions/{execution_id}/cancel",
               {"Origin": "http://evil.example", "Authorization": f"Bearer {stack.token}"})[0] == 403
    # DNS rebinding: the page's own name in Host
    for path in ("/api/v1/dev/connection", "/api/v1/executions", "/healthz"):
        status, _, body = raw(stack, "GET", path, {"Host": "evil.example:8080",
                                                   "Authorization": f"Bearer {stack.token}"})
        assert status == 421 and "database" not in json.dumps(body), (path, body)
    assert "CancelRequested" not in events_of(stack, execution_id)
    assert stack.api("GET", "/api/v1/flows")["flows"] == flows
    assert not any(s["flow"] == "evil" for s in stack.api("GET", "/api/v1/schedules")["schedules"])
    stack.api("POST", f"/api/v1/executions/{execution_id}/cancel", {})


def test_a_flow_bomb_is_refused_by_its_expanded_size_and_registers_nothing(stack: Stack):
    laughs = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]\n" for i in range(8))
    jobs = "x0: &x0 [{name: j, type: noop}, {name: j, type: noop}, {name: j, type: noop}, {name: j, type: noop}]\n"
    jobs += "".join(f"x{i}: &x{i} [*x{i - 1}, *x{i - 1}, *x{i - 1}, *x{i - 1}]\n" for i in range(1, 10))
    jobs += "nodes: *x9\n"
    flows = stack.api("GET", "/api/v1/flows")["flows"]
    for bomb in (laughs, jobs):
        refused = error_of(lambda bomb=bomb: stack.register(bomb))
        assert refused.status == 422 and "expands to more than" in json.dumps(refused.details)
        assert len(json.dumps(refused.details)) < 300
        inline = error_of(lambda bomb=bomb: stack.api("POST", "/api/v1/executions", {"definition": bomb}))
        assert inline.status == 422
    assert stack.api("GET", "/api/v1/flows")["flows"] == flows


def test_user_and_token_commands(stack: Stack):
    name = f"cli{uuid.uuid4().hex[:6]}"
    added = cli(stack, "user", "add", name, "--password", PASSWORD, "--role", "READ", "--group", "ops", "--json")
    assert added.returncode == 0, added.stderr
    assert json.loads(added.stdout)["roles"] == ["READ"] and PASSWORD not in added.stdout
    created = cli(stack, "token", "create", "--user", name, "--expires", "30d", "--json")
    token = json.loads(created.stdout)["token"]
    assert as_(stack, token, "GET", "/api/v1/me") == {"user": name, "roles": ["READ"], "groups": ["ops"],
                                                      "via": "token"}
    listed = json.loads(cli(stack, "token", "list", "--user", name, "--json").stdout)["tokens"]
    assert len(listed) == 1 and token not in json.dumps(listed)
    users = json.loads(cli(stack, "user", "list", "--json").stdout)["users"]
    assert any(u["name"] == name for u in users) and "password" not in json.dumps(users)
    assert cli(stack, "user", "passwd", name, "--password", "a new long password").returncode == 0
    assert cli(stack, "token", "revoke", listed[0]["token_id"]).returncode == 0
    assert error_of(lambda: as_(stack, token, "GET", "/api/v1/me")).status == 401
    weak = cli(stack, "user", "add", f"w{name}", "--password", "short")
    assert weak.returncode == 2 and "at least 8" in weak.stderr
    assert cli(stack, "user", "delete", name).returncode == 0
    assert not any(u["name"] == name for u in json.loads(cli(stack, "user", "list", "--json").stdout)["users"])


def test_failed_logins_are_rate_limited(stack: Stack):
    name, _ = user(stack)
    answers = []
    # a burst of 10 failures is allowed, then 1 each 5 s: guesses are refused well before 40 (each costs argon2)
    while len(answers) < 40 and (not answers or answers[-1][0] != 429):
        answers.append(raw(stack, "POST", "/api/v1/login", {"Content-Type": "application/json"},
                           json.dumps({"username": name, "password": f"guess {len(answers)}"}).encode(),
                           source="127.0.0.3"))
    statuses = [status for status, _, _ in answers]
    assert statuses[:10] == [401] * 10 and statuses[-1] == 429 and set(statuses[:-1]) == {401}, statuses
    assert int(answers[-1][1]["retry-after"]) >= 1
    # while limited, the right password is refused too: guessing cannot go on at speed
    assert raw(stack, "POST", "/api/v1/login", {"Content-Type": "application/json"},
               json.dumps({"username": name, "password": PASSWORD}).encode(), source="127.0.0.3")[0] == 429
