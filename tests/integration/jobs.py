"""Functions the integration tests run as `python` jobs."""

from __future__ import annotations


def echo_param(params: dict[str, str]) -> dict[str, str]:
    return {"value": params["value"]}
