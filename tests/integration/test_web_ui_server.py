"""The web UI's server side on a real stack: pages behind the login (a redirect without an identity, served to a
bearer token or a session), logging in with a token (a session that ends with its token), the page's CSRF token
and security headers, the packaged assets, and the API the pages read: DAG layouts, the execution watch stream,
status counts, the project filter and each flow's last run."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from engine.client import call
from engine.ui.pages import PAGES
from tests.integration.stack import Stack
from tests.integration.test_access import PASSWORD, raw, user
from tests.integration.test_projects import make_zip, upload
from tests.support.waiting import wait_until

CHAIN = """name: {name}
params:
  who: null
  greeting: hello
nodes:
  - name: first
    type: noop
  - name: inner
    type: flow
    dependsOn: [first]
    nodes:
      - name: a
        type: noop
  - name: last
    type: noop
    dependsOn: [inner]
    condition: all_success
"""


def login(stack: Stack, body: dict[str, str]) -> tuple[int, str | None, dict]:
    status, headers, answer = raw(stack, "POST", "/api/v1/login", {"Content-Type": "application/json"},
                                  json.dumps(body).encode())
    cookie = headers.get("set-cookie", "").split(";", 1)[0] or None
    return status, cookie, answer


def page(stack: Stack, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    status, answer_headers, body = raw(stack, "GET", path, headers or {})
    return status, answer_headers, body.decode() if isinstance(body, bytes) else json.dumps(body)


def test_a_page_without_an_identity_is_sent_to_the_login_form_and_back(stack: Stack):
    for path in ("/", "/executions", "/executions/x?tab=log", "/flows/some-flow", "/schedules", "/dead-letters"):
        status, headers, _ = page(stack, path)
        assert status == 303, path
        assert headers["location"].startswith("/login?next=/"), path
    status, headers, _ = page(stack, "/executions/x?tab=log")
    assert headers["location"] == "/login?next=/executions/x%3Ftab%3Dlog"
    status, headers, body = page(stack, "/login?next=/flows/a")
    assert status == 200 and 'name="kafkaban-next" content="/flows/a"' in body
    assert "default-src 'self'" in headers["content-security-policy"]
    # what the login form is handed back to is escaped, never markup
    _, _, body = page(stack, '/login?next="><script>alert(1)</script>')
    assert "<script>alert(1)" not in body and "&quot;&gt;&lt;script&gt;" in body


def test_every_page_is_served_to_a_bearer_token_as_its_user(stack: Stack):
    name, token = user(stack, roles=("READ",))
    for path in PAGES:
        concrete = path.replace("{", "").replace("}", "")
        status, headers, body = page(stack, concrete, {"Authorization": f"Bearer {token}"})
        assert status == 200, concrete
        assert f'name="kafkaban-user" content="{name}"' in body
        assert headers["content-security-policy"].startswith("default-src 'self'")
        assert headers["x-content-type-options"] == "nosniff"
        assert 'href="/docs"' in body and 'href="/redoc"' in body  # the API's two references, from every page
    assert page(stack, "/executions", {"Authorization": "Bearer kb_nonsense"})[0] == 303


def test_a_token_login_opens_a_session_that_ends_with_its_token(stack: Stack):
    name, token = user(stack, roles=("READ",))
    status, cookie, answer = login(stack, {"token": token})
    assert status == 200 and answer["user"] == name and cookie
    status, _, me = raw(stack, "GET", "/api/v1/me", {"Cookie": cookie})
    assert status == 200 and me["user"] == name
    # the page holds the session's CSRF token for its script's writes
    _, _, body = page(stack, "/executions", {"Cookie": cookie})
    assert f'name="kafkaban-csrf" content="{answer["csrf_token"]}"' in body
    token_id = next(t["token_id"] for t in stack.api("GET", f"/api/v1/tokens?user={name}")["tokens"])
    stack.api("DELETE", f"/api/v1/tokens/{token_id}")
    status, _, refused = raw(stack, "GET", "/api/v1/me", {"Cookie": cookie})
    assert status == 401 and "revoked" in refused["error"]["message"]
    assert page(stack, "/executions", {"Cookie": cookie})[0] == 303


def test_the_bootstrap_token_logs_in_as_the_admin(stack: Stack):
    status, cookie, answer = login(stack, {"token": stack.token})
    assert status == 200 and answer["user"] == "admin"
    status, _, me = raw(stack, "GET", "/api/v1/me", {"Cookie": cookie})
    assert status == 200 and me["user"] == "admin" and "ADMIN" in me["roles"]


def test_a_bad_token_login_is_refused_and_counted_like_a_bad_password(stack: Stack):
    status, cookie, answer = login(stack, {"token": "kb_" + uuid.uuid4().hex})
    assert status == 401 and cookie is None and "cannot log in with that token" in answer["error"]["message"]
    status, _, answer = login(stack, {"token": stack.token, "username": "admin", "password": PASSWORD})
    assert status == 400 and "not both" in answer["error"]["message"]
    status, _, answer = login(stack, {"username": "someone"})
    assert status == 400


def test_the_assets_are_served_from_the_package(stack: Stack):
    _, _, body = page(stack, "/login")
    for asset in ("/ui/static/app.css", "/ui/static/js/login.js", "/ui/static/js/app.js", "/ui/static/js/dag.js"):
        status, headers, _ = raw(stack, "GET", asset, {})
        assert status == 200, asset
        assert headers["content-type"].split(";")[0] in ("text/css", "text/javascript", "application/javascript")
    assert "http://" not in body.replace(stack.url, "") and "https://" not in body
    # a path out of the asset folder is not served
    assert raw(stack, "GET", "/ui/static/../pages.py", {})[0] == 404
    assert raw(stack, "GET", "/ui/static/%2e%2e/pages.py", {})[0] == 404


def test_the_dag_of_a_flow_a_project_flow_and_an_execution(stack: Stack):
    name = f"chain{uuid.uuid4().hex[:6]}"
    stack.register(CHAIN.format(name=name))
    graph = stack.api("GET", f"/api/v1/flows/{name}/graph")
    assert [(n["name"], n["layer"], n["group"]) for n in graph["nodes"]] == [
        ("first", 0, None), ("inner/a", 1, "inner"), ("last", 2, None)]
    assert {(e["from"], e["to"], e["condition"]) for e in graph["edges"]} == {
        ("first", "inner/a", None), ("inner/a", "last", "all_success")}
    assert graph["params"] == [{"name": "greeting", "default": "hello", "required": False},
                               {"name": "who", "default": None, "required": True}]
    execution_id = stack.submit(flow=name, who="you")
    of_execution = stack.api("GET", f"/api/v1/executions/{execution_id}/graph")
    assert of_execution["nodes"] == graph["nodes"] and of_execution["execution_id"] == execution_id
    project = f"p{uuid.uuid4().hex[:6]}"
    upload(stack, project, make_zip({"flows/x.flow": CHAIN.format(name="x")}))
    in_project = stack.api("GET", f"/api/v1/projects/{project}/flows/x/graph")
    assert [n["name"] for n in in_project["nodes"]] == ["first", "inner/a", "last"] and in_project["archive"]
    for missing in (f"/api/v1/flows/{name}/graph?version=sha256:00", f"/api/v1/projects/{project}/flows/y/graph",
                    "/api/v1/executions/no-such-execution/graph"):
        status, _, _ = raw(stack, "GET", missing, {"Authorization": f"Bearer {stack.token}"})
        assert status == 404, missing


def test_the_watch_stream_sends_each_change_until_the_end(stack: Stack):
    execution_id = stack.submit(definition="name: watched\nnodes:\n  - {name: a, type: command, config: "
                                           "{command: 'sleep 1'}}\n  - {name: b, type: noop, dependsOn: [a]}")
    status, headers, body = raw(stack, "GET", f"/api/v1/executions/{execution_id}/watch",
                                {"Authorization": f"Bearer {stack.token}"})
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = [block for block in body.decode().split("\n\n") if block.strip()]
    states = [json.loads(block.split("data: ", 1)[1]) for block in events if "event: state" in block]
    assert events[-1].startswith("event: end") and states[-1]["status"] == "SUCCEEDED"
    positions = [s["position"] for s in states]
    assert positions == sorted(set(positions))  # each state a change, in log order
    assert [j["status"] for j in states[-1]["jobs"]] == ["SUCCEEDED", "SUCCEEDED"]


def test_the_list_counts_statuses_under_its_filters_and_filters_by_project(stack: Stack):
    project = f"q{uuid.uuid4().hex[:6]}"
    upload(stack, project, make_zip({"flows/one.flow": "nodes: [{name: a, type: noop}]"}))
    first = call(stack.url, "POST", "/api/v1/executions", {"flow": f"{project}/one"}, token=stack.token)
    stack.wait_for(first["execution_id"])
    listed = stack.api("GET", f"/api/v1/executions?project={project}")
    assert [x["execution_id"] for x in listed["executions"]] == [first["execution_id"]]
    assert listed["counts"] == {"SUCCEEDED": 1}
    assert stack.api("GET", f"/api/v1/executions?project={project}&status=FAILED")["counts"] == {"SUCCEEDED": 1}
    shown = next(p for p in stack.api("GET", "/api/v1/projects")["projects"] if p["project"] == project)
    assert shown["last_runs"]["one"]["execution_id"] == first["execution_id"]
    assert shown["last_runs"]["one"]["status"] == "SUCCEEDED"


def test_dead_letters_say_why_and_where_each_record_came_from(stack: Stack):
    from confluent_kafka import Producer

    from engine.kafka import producer_config

    producer = Producer(producer_config(stack.settings))
    key = f"poison-{uuid.uuid4().hex[:6]}"
    delivered: list[tuple[int, int]] = []
    producer.produce(stack.settings.executions_topic, key=key.encode(), value=b"\xc3\x01 not avro <script>",
                     on_delivery=lambda err, m: delivered.append((m.partition(), m.offset())))
    producer.flush(10)
    found = None
    for _ in range(120):
        listed = stack.api("GET", "/api/v1/dead-letters?limit=1000")
        found = next((d for d in listed["dead_letters"] if d["key"] == key), None)
        if found:
            break
        time.sleep(0.5)
    assert found is not None, stack.logs()
    assert listed["topic"] == stack.settings.deadletter_topic
    assert (found["source_topic"], found["source_partition"], found["source_offset"]) == (
        stack.settings.executions_topic, *delivered[0])
    assert found["reason"] and found["event_type"] is None and found["value_size"] == 20
    assert found["value_preview"] == "\\xc3\\x01 not avro <script>"
    by_topic = stack.api("GET", f"/api/v1/dead-letters?topic={stack.settings.executions_topic}")["dead_letters"]
    assert any(d["key"] == key for d in by_topic)
    assert stack.api("GET", "/api/v1/dead-letters?topic=no-such-topic")["dead_letters"] == []
    _, token = user(stack)  # no global READ
    status, _, _ = raw(stack, "GET", "/api/v1/dead-letters", {"Authorization": f"Bearer {token}"})
    assert status == 403
    for bad in ("0", "1001", "many"):
        status, _, _ = raw(stack, "GET", f"/api/v1/dead-letters?limit={bad}",
                           {"Authorization": f"Bearer {stack.token}"})
        assert status == 422, bad


def test_status_lists_jobs_in_the_flows_order_not_alphabetically(stack: Stack):
    from tests.integration.test_api_cli import cli

    name = f"order{uuid.uuid4().hex[:6]}"
    stack.register(f"name: {name}\nnodes:\n  - {{name: zeta, type: noop}}\n"
                   "  - {name: mid, type: noop, dependsOn: [zeta]}\n  - {name: alpha, type: noop, dependsOn: [mid]}\n")
    execution_id = stack.submit(flow=name)
    stack.wait_for(execution_id)
    done = cli(stack, "status", execution_id)
    assert done.returncode == 0, done.stderr
    listed = [line.split()[0] for line in done.stdout.splitlines()[2:]]
    assert listed == ["zeta", "mid", "alpha"]
    assert stack.api("GET", f"/api/v1/executions/{execution_id}/graph")["order"] == ["zeta", "mid", "alpha"]


def test_a_worker_reports_the_resources_it_offers_and_its_running_jobs_reserved(stack: Stack):
    flow = ("name: reserving\nnodes:\n  - {name: hold, type: command, config: {command: sleep 60}, "
            "resources: {cpu: 0.5, memory: 64Mi}}")
    execution_id = stack.submit(definition=flow)
    stack.wait_for(execution_id, {"RUNNING"}, job="hold")

    def reserved() -> dict[str, Any] | None:
        for worker in stack.api("GET", "/api/v1/workers")["workers"]:
            if worker["alive"] and worker["cpu_reserved"] == 0.5:
                return worker
        return None

    worker = wait_until(reserved, 30, "a heartbeat with the running job's reservation")
    assert worker["memory_reserved_mb"] == 64 and worker["cpu"] >= 0.5 and worker["memory_mb"] >= 64
    assert worker["load_1m"] is None or worker["load_1m"] >= 0
    stack.api("POST", f"/api/v1/executions/{execution_id}/cancel", {})
    stack.wait_for(execution_id)


def test_pools_count_live_workers_and_the_jobs_waiting_for_each(stack: Stack):
    pool = f"gpu{uuid.uuid4().hex[:6]}"
    execution_id = stack.submit(definition=f"name: stranded\nnodes:\n  - {{name: train, type: noop, pool: {pool}}}")
    stack.wait_for(execution_id, {"QUEUED", "DISPATCHED"}, job="train")
    pools = {p["pool"]: p for p in stack.api("GET", "/api/v1/pools")["pools"]}
    assert pools[pool]["live_workers"] == 0 and pools[pool]["waiting"] == 1
    assert pools[pool]["waiting_jobs"][0]["execution_id"] == execution_id
    assert pools["default"]["live_workers"] == 1 and pools["default"]["slots"] == 4
    _, token = user(stack)
    assert raw(stack, "GET", "/api/v1/pools", {"Authorization": f"Bearer {token}"})[0] == 403
    stack.api("POST", f"/api/v1/executions/{execution_id}/cancel", {})
