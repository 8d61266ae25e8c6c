"""A crowd of log followers and read-your-writes waits does not starve the API: /healthz and plain reads still
answer, and one client beyond its follower cap gets a 429 (a freed place is given again)."""

from __future__ import annotations

import http.client
import json
import threading
from urllib.parse import urlparse

from engine.api.app import MAX_FOLLOWERS_PER_CLIENT
from tests.integration.stack import Stack

CLIENTS = [f"127.0.0.{n}" for n in range(2, 8)]  # loopback takes all of 127/8: six client addresses


def auth(stack: Stack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token}"}


def connect(stack: Stack, client: str, timeout: float = 30) -> http.client.HTTPConnection:
    url = urlparse(stack.url)
    return http.client.HTTPConnection(url.hostname, url.port, timeout=timeout, source_address=(client, 0))


def follow(stack: Stack, client: str, path: str) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
    connection = connect(stack, client)
    connection.request("GET", path, headers=auth(stack))
    answer = connection.getresponse()
    if answer.status == 200:
        assert answer.read(len(b": following\n\n")) == b": following\n\n"  # the stream has started
    return connection, answer


def test_followers_and_waits_do_not_starve_the_api_and_a_client_is_capped(stack: Stack):
    execution_id = stack.submit(definition="name: crowd\nnodes: [{name: s, type: command, "
                                           "config: {command: 'sleep 60'}}]")
    stack.wait_for(execution_id, {"RUNNING"}, job="s", timeout=60)
    path = f"/api/v1/executions/{execution_id}/jobs/s/logs?follow=true"
    open_streams = [follow(stack, client, path) for client in CLIENTS for _ in range(MAX_FOLLOWERS_PER_CLIENT)]
    assert [answer.status for _, answer in open_streams] == [200] * len(open_streams)

    # 60 read-your-writes waits for an offset the projector will not reach soon
    waits: list[int] = []

    def wait_once(client: str) -> None:
        connection = connect(stack, client)
        connection.request("GET", f"/api/v1/executions/{execution_id}?partition=0&min_offset=1000000000",
                           headers=auth(stack))
        waits.append(connection.getresponse().status)
        connection.close()

    waiters = [threading.Thread(target=wait_once, args=(CLIENTS[i % len(CLIENTS)],)) for i in range(60)]
    for thread in waiters:
        thread.start()
    try:
        # with 48 streams and 60 waits open, the API still answers at once
        health = connect(stack, "127.0.0.1", timeout=5)
        health.request("GET", "/healthz", headers=auth(stack))
        assert health.getresponse().status == 200
        listing = connect(stack, "127.0.0.1", timeout=5)
        listing.request("GET", "/api/v1/executions?limit=5", headers=auth(stack))
        assert listing.getresponse().status == 200

        # one follower more from a client at its cap: 429 with Retry-After
        connection, refused = follow(stack, CLIENTS[0], path)
        assert refused.status == 429 and refused.getheader("Retry-After") == "5"
        assert json.loads(refused.read())["error"]["status"] == 429
        connection.close()
        # closing one of its streams gives the place back
        first_connection, _ = open_streams.pop(0)
        first_connection.close()
        for _ in range(50):
            connection, again = follow(stack, CLIENTS[0], path)
            if again.status == 200:
                break
            connection.close()
            threading.Event().wait(0.1)
        assert again.status == 200
        open_streams.append((connection, again))
    finally:
        for connection, _ in open_streams:
            connection.close()
        for thread in waiters:
            thread.join(30)
    assert waits == [503] * 60  # each wait ran out and said so
    stack.api("POST", f"/api/v1/executions/{execution_id}/cancel", {"reason": "test over"})
