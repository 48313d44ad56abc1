"""The appeal's stage machine: which stage may follow which, and the record of every move."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from types import MappingProxyType


class AppealStage(StrEnum):
    """Where an appeal is on its way from the resident's message to a final outcome."""

    NEW = "new"
    ACCEPTED = "accepted"  # registered and routed to a department
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"
    CLOSED = "closed"
    REJECTED = "rejected"  # with a reason
    REDIRECTED = "redirected"  # to another body: the matter is outside our authority


ALLOWED_MOVES: Mapping[AppealStage, frozenset[AppealStage]] = MappingProxyType(
    {
        AppealStage.NEW: frozenset({AppealStage.ACCEPTED, AppealStage.REJECTED, AppealStage.REDIRECTED}),
        AppealStage.ACCEPTED: frozenset(
            {AppealStage.IN_PROGRESS, AppealStage.ANSWERED, AppealStage.REJECTED, AppealStage.REDIRECTED}
        ),
        AppealStage.IN_PROGRESS: frozenset({AppealStage.ANSWERED, AppealStage.REJECTED, AppealStage.REDIRECTED}),
        # Back to work when the resident is not satisfied with the answer.
        AppealStage.ANSWERED: frozenset({AppealStage.IN_PROGRESS, AppealStage.CLOSED}),
        AppealStage.CLOSED: frozenset(),
        AppealStage.REJECTED: frozenset(),
        AppealStage.REDIRECTED: frozenset(),
    }
)
FINAL_STAGES = frozenset(stage for stage, targets in ALLOWED_MOVES.items() if not targets)
STAGES_NEEDING_COMMENT = frozenset({AppealStage.REJECTED, AppealStage.REDIRECTED})


class DomainError(Exception):
    """A rule of the domain was broken; the message says which, in plain English."""


class ForbiddenMove(DomainError):
    def __init__(self, current: AppealStage, target: AppealStage) -> None:
        allowed = ", ".join(f"'{stage}'" for stage in AppealStage if stage in ALLOWED_MOVES[current]) or "none"
        super().__init__(f"cannot move an appeal from '{current}' to '{target}'; allowed from '{current}': {allowed}")
        self.current = current
        self.target = target


class CommentRequired(DomainError):
    def __init__(self, target: AppealStage) -> None:
        super().__init__(f"moving an appeal to '{target}' needs a comment with the reason")
        self.target = target


def check_move(current: AppealStage, target: AppealStage) -> None:
    """Raise `ForbiddenMove` unless `ALLOWED_MOVES` lets an appeal go from `current` to `target`."""
    if target not in ALLOWED_MOVES[current]:
        raise ForbiddenMove(current, target)


def validate_move(current: AppealStage, target: AppealStage, comment: str | None) -> None:
    """`check_move`, then raise `CommentRequired` if `target` needs a reason and `comment` is blank."""
    check_move(current, target)
    if target in STAGES_NEEDING_COMMENT and not (comment and comment.strip()):
        raise CommentRequired(target)


# The actor of what a resident did themselves (staff are "staff:<id>", the scheduler "system").
RESIDENT_ACTOR = "resident"


@dataclass(frozen=True, slots=True)
class StageMove:
    """One move in an appeal's history; `from_stage` is None for the record of the appeal's creation."""

    from_stage: AppealStage | None
    to_stage: AppealStage
    actor: str
    at: datetime
    comment: str | None
    visible_to_resident: bool

    def __post_init__(self) -> None:
        if self.at.utcoffset() is None:
            raise ValueError(f"the moment of a stage move must be timezone-aware, got {self.at.isoformat()}")


def move(
    current: AppealStage,
    target: AppealStage,
    *,
    actor: str,
    at: datetime,
    comment: str | None = None,
    visible_to_resident: bool = True,
) -> StageMove:
    """Validate the move from `current` to `target` and return its record."""
    validate_move(current, target, comment)
    return StageMove(current, target, actor, at, comment, visible_to_resident)
