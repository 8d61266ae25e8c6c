"""Validation problems: each names the node (when there is one) and what is wrong."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    node: str | None
    message: str

    def __str__(self) -> str:
        return f"node {self.node!r}: {self.message}" if self.node else self.message

    def to_dict(self) -> dict[str, str | None]:
        return {"node": self.node, "message": self.message}


class FlowInvalid(ValueError):
    """A flow definition has problems; every one found is listed."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))
