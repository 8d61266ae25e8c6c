"""The web UI in a real browser (Chromium through Playwright) against a real stack: log in, every page with no
console error, run a flow from its Run form and watch the DAG turn green, cancel, travel back in time, create,
preview and pause a schedule, upload a project zip (and see the loader's problems per file). Each page's screenshot
is kept in test-artifacts/screenshots."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.integration.stack import Stack
from tests.integration.test_access import PASSWORD, user
from tests.integration.test_projects import make_zip, upload
from tests.support.browser import Console, chromium, shoot

GREET = """name: {name}
params:
  who: null
nodes:
  - name: hello
    type: command
    config:
      command: echo hello ${{who}}
  - name: inner
    type: flow
    dependsOn: [hello]
    nodes:
      - name: a
        type: noop
      - name: b
        type: noop
        dependsOn: [a]
  - name: bye
    type: noop
    dependsOn: [inner]
    condition: all_success
"""
SLEEPER = "name: {name}\nnodes: [{{name: s, type: command, config: {{command: 'sleep 120'}}}}]"
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture(scope="module")
def flow_name(stack: Stack) -> str:
    name = f"greet{uuid.uuid4().hex[:6]}"
    stack.register(GREET.format(name=name))
    stack.register(SLEEPER.format(name=f"{name}-sleeper"))
    return name


@pytest.fixture
def page(browser: Any, stack: Stack) -> Iterator[tuple[Any, Console]]:
    """A page logged in with the token form, as a new user of `kafkaban dev` would."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, timezone_id="Europe/Berlin")
    context.set_default_timeout(WAIT_MS)  # a loaded CI machine is slow, not wrong
    opened = context.new_page()
    console = Console()
    console.watch(opened)
    opened.goto(f"{stack.url}/")
    opened.wait_for_url("**/login?next=**")
    opened.fill("#token-login input[name=token]", stack.token)
    opened.click("#token-login button[type=submit]")
    opened.wait_for_url(f"{stack.url}/executions")  # exactly: "**/x" also matches the login page's ?next=/x
    opened.wait_for_selector("main h1")  # drawn by the page's script: it runs, and its handlers are on
    yield opened, console
    context.close()
    assert not console.errors, console.errors


def test_log_in_with_a_password_and_be_sent_back_to_the_page_asked_for(browser: Any, stack: Stack):
    name, _ = user(stack, roles=("READ",))
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    console = Console()
    console.watch(opened)
    opened.goto(f"{stack.url}/workers")
    opened.wait_for_url("**/login?next=/workers")
    shoot(opened, "login")
    opened.fill("#password-login input[name=username]", name)
    opened.fill("#password-login input[name=password]", "not the password")
    opened.click("#password-login button[type=submit]")
    opened.wait_for_selector("#messages .message")
    assert "wrong password" in opened.inner_text("#messages")
    console.take()  # the refused login's 401 is the browser's own console line
    opened.fill("#password-login input[name=password]", PASSWORD)
    opened.click("#password-login button[type=submit]")
    opened.wait_for_url(f"{stack.url}/workers")
    opened.wait_for_selector("main h2")  # drawn by the page's script, so the Log out button has its handler
    assert opened.inner_text("header .who") == name
    opened.click("#logout")
    opened.wait_for_url("**/login")
    opened.goto(f"{stack.url}/executions")
    opened.wait_for_url("**/login?next=/executions")
    context.close()
    assert not console.errors, console.errors


def test_every_page_loads_with_no_console_error(page: tuple[Any, Console], stack: Stack, flow_name: str):
    opened, console = page
    execution_id = stack.submit(flow=flow_name, who="pages")
    stack.wait_for(execution_id)
    project = f"p{uuid.uuid4().hex[:6]}"
    upload(stack, project, make_zip({"flows/etl.flow": GREET.format(name="etl")}))
    schedule = stack.api("POST", "/api/v1/schedules", {"flow": flow_name, "cron": "0 3 * * *",
                                                       "timezone": "Europe/Berlin", "params": {"who": "cron"}})
    pages = {
        "executions": ("/executions", "table [data-execution]"),
        "execution": (f"/executions/{execution_id}", ".graph .node[data-status=SUCCEEDED]"),
        "projects": ("/projects", "#upload"),
        "project": (f"/projects/{project}", "#upload"),
        "project-flow": (f"/projects/{project}/flows/etl", ".graph .node"),
        "flow": (f"/flows/{flow_name}", "#run-form"),
        "schedules": ("/schedules", "table [data-schedule]"),
        "schedule": (f"/schedules/{schedule['schedule_id']}", "#schedule-pause"),
        "workers": ("/workers", "table [data-worker]"),
        "dead-letters": ("/dead-letters", "main table"),
    }
    for name, (path, ready) in pages.items():
        opened.goto(f"{stack.url}{path}")
        opened.wait_for_selector(ready, timeout=WAIT_MS)
        assert "could not be shown" not in opened.inner_text("main"), (name, opened.inner_text("main"))
        shoot(opened, name)
        assert not console.take(), name
    # times are the browser's zone's, with UTC on hover
    opened.goto(f"{stack.url}/executions/{execution_id}")
    stamp = opened.wait_for_selector("main time")
    assert stamp.get_attribute("title").endswith("Z UTC")
    # the dark theme is a click away, and stays
    opened.click("#theme")
    assert "dark" in (opened.get_attribute("html", "class") or "")
    opened.reload()
    opened.wait_for_selector(".graph .node")
    assert "dark" in (opened.get_attribute("html", "class") or "")
    shoot(opened, "execution-dark")
    opened.click("#theme")


def test_run_a_flow_from_its_run_form_and_watch_its_dag_turn_green(page: tuple[Any, Console], stack: Stack,
                                                                    flow_name: str):
    opened, _ = page
    opened.goto(f"{stack.url}/flows/{flow_name}")
    opened.wait_for_selector("#run-form")
    opened.fill("#run-form input[name=who]", "browser")
    opened.click("#run-form button[type=submit]")
    opened.wait_for_url("**/executions/*")
    execution_id = opened.url.rsplit("/", 1)[1]
    nodes = opened.locator(".graph .node")
    opened.wait_for_function("() => document.querySelectorAll('.graph .node').length === 4")
    opened.wait_for_function(
        "() => [...document.querySelectorAll('.graph .node')].every(n => n.dataset.status === 'SUCCEEDED')",
        timeout=WAIT_MS)
    assert nodes.count() == 4
    found = stack.wait_for(execution_id)  # its last job's end comes before the execution's own
    assert found["status"] == "SUCCEEDED" and found["params"] == {"who": "browser"}
    assert found["submitter"] == "admin"
    # the log of a job, and the embedded flow folded into one node
    opened.click("table [data-job=hello] button")
    opened.wait_for_function("() => (document.querySelector('pre.log') || {}).textContent?.includes('hello browser')")
    opened.check("input[data-group=inner]")
    opened.wait_for_selector(".graph .node.group[data-status=SUCCEEDED]")
    assert nodes.count() == 3
    opened.wait_for_selector("h1 + p .badge.SUCCEEDED")  # and the page saw the execution end
    shoot(opened, "execution-succeeded")


def test_cancel_from_the_execution_page(page: tuple[Any, Console], stack: Stack, flow_name: str):
    opened, _ = page
    execution_id = stack.submit(flow=f"{flow_name}-sleeper")
    stack.wait_for(execution_id, {"RUNNING"}, job="s")
    opened.goto(f"{stack.url}/executions/{execution_id}")
    opened.wait_for_selector(".graph .node[data-status=RUNNING]", timeout=WAIT_MS)
    opened.once("dialog", lambda dialog: dialog.accept())
    opened.click("#cancel")
    opened.wait_for_selector(".graph .node[data-status=CANCELLED]", timeout=WAIT_MS)
    opened.wait_for_selector("h1 + p .badge.CANCELLED", timeout=WAIT_MS)
    events = [e["type"] for e in stack.api("GET", f"/api/v1/executions/{execution_id}/events")["events"]]
    assert "CancelRequested" in events
    request = next(e for e in stack.api("GET", f"/api/v1/executions/{execution_id}/events")["events"]
                   if e["type"] == "CancelRequested")
    assert request["payload"]["requested_by"] == "admin"


def test_the_time_travel_slider_shows_an_earlier_state(page: tuple[Any, Console], stack: Stack, flow_name: str):
    opened, _ = page
    execution_id = stack.submit(flow=flow_name, who="past")
    stack.wait_for(execution_id)
    opened.goto(f"{stack.url}/executions/{execution_id}")
    opened.wait_for_selector("table [data-job=bye][data-status=SUCCEEDED]")
    slider = opened.locator("#travel")
    # back to the first event: the submission, when nothing had run yet
    slider.evaluate("(el) => { el.value = '1'; el.dispatchEvent(new Event('input')); }")
    opened.wait_for_function("() => document.querySelector('output[for=travel]').textContent.includes('event 1 of')")
    statuses = opened.eval_on_selector_all(".graph .node", "ns => ns.map(n => n.dataset.status)")
    assert set(statuses) == {"PENDING"}
    assert "SUBMITTED" in opened.inner_text("h1 + p .badge")
    shoot(opened, "time-travel")
    # and forward to the end again: live
    slider.evaluate("(el) => { el.value = el.max; el.dispatchEvent(new Event('input')); }")
    opened.wait_for_selector("table [data-job=bye][data-status=SUCCEEDED]")


def test_create_preview_and_pause_a_schedule(page: tuple[Any, Console], stack: Stack, flow_name: str):
    opened, _ = page
    schedule_id = f"nightly-{uuid.uuid4().hex[:6]}"
    opened.goto(f"{stack.url}/schedules?flow={flow_name}")
    opened.wait_for_selector("#create-schedule")
    opened.fill("#create-schedule input[name=timezone]", "America/New_York")
    opened.fill("#create-schedule input[name=cron]", "0 0 31 2 *")
    opened.wait_for_selector("#create-schedule .warning")
    assert "never fires" in opened.inner_text("#create-schedule .preview")
    opened.fill("#create-schedule input[name=cron]", "30 2 * * *")
    opened.wait_for_function("() => document.querySelectorAll('#create-schedule .preview li').length === 5")
    fires = opened.inner_text("#create-schedule .preview")
    assert "02:30:00-05:00" in fires or "02:30:00-04:00" in fires  # in the schedule's zone
    opened.fill("#create-schedule input[name=schedule_id]", schedule_id)
    opened.fill("#create-schedule textarea[name=params]", "who=nightly")
    shoot(opened, "schedule-create")
    opened.click("#create-schedule button[type=submit]")
    opened.wait_for_url(f"**/schedules/{schedule_id}")
    opened.click("#schedule-pause")
    opened.wait_for_selector("#schedule-resume", timeout=WAIT_MS)
    found = stack.api("GET", f"/api/v1/schedules/{schedule_id}")
    assert found["status"] == "PAUSED" and found["params"] == {"who": "nightly"}
    assert found["timezone"] == "America/New_York" and found["created_by"] == "admin"
    shoot(opened, "schedule-paused")


def test_upload_a_project_zip_and_see_the_loaders_problems_per_file(page: tuple[Any, Console], stack: Stack):
    opened, console = page
    project = f"up{uuid.uuid4().hex[:6]}"
    opened.goto(f"{stack.url}/projects")
    opened.wait_for_selector("#upload")
    opened.fill("#upload input[name=project]", project)
    bad = make_zip({"flows/good.flow": "nodes: [{name: a, type: noop}]",
                    "flows/broken.flow": "nodes: [{name: a, type: noop, dependsOn: [nowhere]}]"})
    opened.set_input_files("#upload input[type=file]", files=[{"name": "bad.zip", "mimeType": "application/zip",
                                                               "buffer": bad}])
    opened.click("#upload button[type=submit]")
    opened.wait_for_selector("#upload .message")
    assert "flows/broken.flow" in opened.inner_text("#upload .message")
    shoot(opened, "upload-refused")
    console.take()  # the refused upload's 4xx is the browser's own console line
    assert stack.api("GET", "/api/v1/projects")["projects"] == [
        p for p in stack.api("GET", "/api/v1/projects")["projects"] if p["project"] != project]
    good = make_zip({"flows/etl.flow": GREET.format(name="etl")})
    opened.set_input_files("#upload input[type=file]", files=[{"name": "etl.zip", "mimeType": "application/zip",
                                                               "buffer": good}])
    opened.click("#upload button[type=submit]")
    opened.wait_for_url(f"**/projects/{project}")
    opened.wait_for_selector(f"a[href='/projects/{project}/flows/etl']")
    assert [f["flow"] for f in stack.api("GET", f"/api/v1/projects/{project}")["flows"]] == ["etl"]


def test_an_api_error_is_a_message_never_a_blank_page(page: tuple[Any, Console], stack: Stack):
    opened, console = page
    opened.goto(f"{stack.url}/executions/no-such-execution")
    opened.wait_for_selector("main .message")
    assert "could not be shown" in opened.inner_text("main h1")
    assert "execution no-such-execution not found" in opened.inner_text("main .message")
    console.take()  # the 404 is the browser's own console line
    opened.goto(f"{stack.url}/executions?status=NOPE")
    opened.wait_for_selector("main .message")
    assert "unknown status" in opened.inner_text("main .message")
    console.take()


def test_a_value_from_the_log_is_shown_as_text_never_run(page: tuple[Any, Console], stack: Stack, flow_name: str):
    opened, _ = page
    hostile = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    execution_id = stack.submit(flow=flow_name, who=hostile)
    stack.wait_for(execution_id)
    opened.goto(f"{stack.url}/executions/{execution_id}")
    opened.wait_for_selector("table [data-job=bye][data-status=SUCCEEDED]")
    opened.click("table [data-job=hello] button")
    opened.wait_for_function("() => (document.querySelector('pre.log') || {}).textContent?.includes('onerror')")
    assert hostile in opened.inner_text("main")  # the params line and the job's echoed output, as text
    assert opened.evaluate("() => window.pwned") is None
    assert opened.locator("main img").count() == 0


def test_the_workers_page_warns_of_a_pool_with_no_live_worker(page: tuple[Any, Console], stack: Stack):
    opened, _ = page
    pool = f"gpu{uuid.uuid4().hex[:6]}"
    execution_id = stack.submit(definition=f"name: stranded\nnodes:\n  - {{name: train, type: noop, pool: {pool}}}")
    stack.wait_for(execution_id, {"QUEUED", "DISPATCHED"}, job="train")
    opened.goto(f"{stack.url}/workers")
    warning = opened.wait_for_selector(f"[data-warning={pool}]")
    assert "no live worker" in warning.inner_text() and f"kafkaban worker --pool {pool}" in warning.inner_text()
    offered = opened.wait_for_selector("[data-worker] [data-resources]").inner_text()  # the stack's live worker
    assert " cpu, " in offered and " MiB" in offered, offered
    opened.goto(f"{stack.url}/executions/{execution_id}")
    opened.wait_for_selector("details.card summary")
    assert f"no worker in pool {pool}" in opened.inner_text("details.card")
    shoot(opened, "why-not-running")
    stack.api("POST", f"/api/v1/executions/{execution_id}/cancel", {})


def test_backfill_a_schedule_and_see_its_progress(page: tuple[Any, Console], stack: Stack, flow_name: str):
    opened, _ = page
    schedule_id = f"daily-{uuid.uuid4().hex[:6]}"
    stack.api("POST", "/api/v1/schedules", {"schedule_id": schedule_id, "flow": flow_name, "cron": "0 6 * * *",
                                            "timezone": "UTC", "params": {"who": "backfill"}})
    opened.goto(f"{stack.url}/schedules/{schedule_id}")
    opened.wait_for_selector("form[aria-label=Backfill]")
    opened.fill("form[aria-label=Backfill] input[name=from]", "2026-01-01T00:00")
    opened.fill("form[aria-label=Backfill] input[name=to]", "2026-01-03T23:00")
    opened.click("form[aria-label=Backfill] button[type=submit]")
    opened.wait_for_selector("#messages .message.ok")
    # three daily ticks, each an execution of its own; the page shows the backfill and then its ticks
    opened.wait_for_function("() => [...document.querySelectorAll('main table td')].some(td => td.textContent === '3')",
                             timeout=WAIT_MS)
    backfills = stack.api("GET", f"/api/v1/schedules/{schedule_id}")["backfills"]
    assert [b["ticks"] for b in backfills] == [3] and backfills[0]["requested_by"] == "admin"
    shoot(opened, "schedule-backfill")


def test_the_dag_is_usable_with_the_keyboard(page: tuple[Any, Console], stack: Stack, flow_name: str):
    opened, _ = page
    execution_id = stack.submit(flow=flow_name, who="keys")
    stack.wait_for(execution_id)
    opened.goto(f"{stack.url}/executions/{execution_id}")
    opened.wait_for_selector(".graph .node[data-job=hello][data-status=SUCCEEDED]")
    opened.focus(".graph .node[data-job=hello]")
    opened.keyboard.press("Enter")
    opened.wait_for_function("() => (document.querySelector('pre.log') || {}).textContent?.includes('hello keys')")
    opened.focus(".graph .group-label")
    opened.keyboard.press("Enter")
    opened.wait_for_selector(".graph .node.group")  # the embedded flow folded from its label
    opened.focus(".graph .node.group")
    opened.keyboard.press("Enter")
    opened.wait_for_selector(".graph .node[data-job='inner/a']")  # and unfolded from its node


def test_a_page_whose_session_ends_goes_back_through_the_login_form(browser: Any, stack: Stack):
    name, token = user(stack, roles=("READ",))
    context = browser.new_context()
    context.set_default_timeout(WAIT_MS)
    opened = context.new_page()
    opened.goto(f"{stack.url}/login?next=/workers")
    opened.fill("#token-login input[name=token]", token)
    opened.click("#token-login button[type=submit]")
    opened.wait_for_url(f"{stack.url}/workers")
    opened.wait_for_selector("main h2")
    token_id = next(t["token_id"] for t in stack.api("GET", f"/api/v1/tokens?user={name}")["tokens"])
    stack.api("DELETE", f"/api/v1/tokens/{token_id}")  # the session was opened with it: it ends with it
    opened.wait_for_url("**/login?next=%2Fworkers", timeout=WAIT_MS)  # at the page's next refresh
    context.close()
