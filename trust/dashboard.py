"""The trust's dashboard is made of panels; other apps add theirs (the disbursements app: approvals
waiting, funds reserved, payments in transit, vetting expiring) by registering a function at
start-up, so the trust app shows them without importing those apps (its layer is below theirs).
A panel function takes the reader and the trust and returns a ``Panel`` or ``None``; it reads
only what the reader may see."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from trust.models import Trust


@dataclass(frozen=True)
class Line:
    label: str
    value: str
    link: str = ""
    warn: bool = False


@dataclass(frozen=True)
class Panel:
    title: str
    lines: list[Line] = field(default_factory=list)


PanelFunction = Callable[[Any, Trust], Panel | None]
_PANELS: list[PanelFunction] = []


def panel_register(function: PanelFunction) -> None:
    """Add a panel to every trust's dashboard (once, whatever how often it is called)."""
    if function not in _PANELS:
        _PANELS.append(function)


def trust_panels(user: Any, trust: Trust) -> list[Panel]:
    """The registered panels for ``user`` on ``trust``, in registration order."""
    return [panel for function in _PANELS if (panel := function(user, trust)) is not None]
