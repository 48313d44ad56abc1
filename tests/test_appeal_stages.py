"""The appeal stage machine: every pair of stages is allowed or forbidden exactly as written here."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import product

import pytest

from bot.services.appeal_stages import (
    FINAL_STAGES,
    AppealStage,
    CommentRequired,
    DomainError,
    ForbiddenMove,
    StageMove,
    check_move,
    move,
    validate_move,
)

ALLOWED = {
    ("new", "accepted"),
    ("new", "rejected"),
    ("new", "redirected"),
    ("accepted", "in_progress"),
    ("accepted", "answered"),
    ("accepted", "rejected"),
    ("accepted", "redirected"),
    ("in_progress", "answered"),
    ("in_progress", "rejected"),
    ("in_progress", "redirected"),
    ("answered", "in_progress"),
    ("answered", "closed"),
}
ALL_PAIRS = list(product(AppealStage, AppealStage))
ALLOWED_PAIRS = [pair for pair in ALL_PAIRS if pair in ALLOWED]
FORBIDDEN_PAIRS = [pair for pair in ALL_PAIRS if pair not in ALLOWED]
AT = datetime(2026, 3, 2, 10, 30, tzinfo=UTC)


def test_stages_are_the_seven_known_ones() -> None:
    assert [str(stage) for stage in AppealStage] == [
        "new",
        "accepted",
        "in_progress",
        "answered",
        "closed",
        "rejected",
        "redirected",
    ]
    assert {str(stage) for stage in FINAL_STAGES} == {"closed", "rejected", "redirected"}


def test_every_allowed_pair_names_real_stages() -> None:
    assert len(ALLOWED_PAIRS) == len(ALLOWED) == 12
    assert len(FORBIDDEN_PAIRS) == 49 - 12


@pytest.mark.parametrize(("current", "target"), ALLOWED_PAIRS)
def test_an_allowed_move_gives_its_record(current: AppealStage, target: AppealStage) -> None:
    check_move(current, target)
    record = move(current, target, actor="operator:7", at=AT, comment="Не наша компетенция")
    assert record == StageMove(
        from_stage=current,
        to_stage=target,
        actor="operator:7",
        at=AT,
        comment="Не наша компетенция",
        visible_to_resident=True,
    )


@pytest.mark.parametrize(("current", "target"), FORBIDDEN_PAIRS)
def test_a_forbidden_move_names_both_stages_and_what_is_allowed(current: AppealStage, target: AppealStage) -> None:
    allowed = ", ".join(f"'{stage}'" for stage in AppealStage if (current, stage) in ALLOWED) or "none"
    expected = f"cannot move an appeal from '{current}' to '{target}'; allowed from '{current}': {allowed}"
    with pytest.raises(ForbiddenMove) as caught:
        check_move(current, target)
    assert str(caught.value) == expected
    assert (caught.value.current, caught.value.target) == (current, target)
    with pytest.raises(ForbiddenMove, match=r"^cannot move"):
        move(current, target, actor="operator:7", at=AT, comment="a reason")


@pytest.mark.parametrize(
    ("current", "target", "message"),
    [
        (
            AppealStage.CLOSED,
            AppealStage.IN_PROGRESS,
            "cannot move an appeal from 'closed' to 'in_progress'; allowed from 'closed': none",
        ),
        (
            AppealStage.NEW,
            AppealStage.NEW,
            "cannot move an appeal from 'new' to 'new'; allowed from 'new': 'accepted', 'rejected', 'redirected'",
        ),
        (
            AppealStage.ANSWERED,
            AppealStage.REJECTED,
            "cannot move an appeal from 'answered' to 'rejected'; allowed from 'answered': 'in_progress', 'closed'",
        ),
    ],
)
def test_forbidden_move_messages_read_plainly(current: AppealStage, target: AppealStage, message: str) -> None:
    with pytest.raises(ForbiddenMove) as caught:
        check_move(current, target)
    assert str(caught.value) == message


@pytest.mark.parametrize("current", [AppealStage.NEW, AppealStage.ACCEPTED, AppealStage.IN_PROGRESS])
@pytest.mark.parametrize("target", [AppealStage.REJECTED, AppealStage.REDIRECTED])
@pytest.mark.parametrize("comment", [None, "", "   \n"])
def test_rejecting_or_redirecting_needs_a_reason(
    current: AppealStage, target: AppealStage, comment: str | None
) -> None:
    with pytest.raises(CommentRequired) as caught:
        validate_move(current, target, comment)
    assert str(caught.value) == f"moving an appeal to '{target}' needs a comment with the reason"
    assert caught.value.target == target
    with pytest.raises(CommentRequired):
        move(current, target, actor="operator:7", at=AT, comment=comment)


def test_other_moves_need_no_comment() -> None:
    validate_move(AppealStage.NEW, AppealStage.ACCEPTED, None)
    record = move(AppealStage.ANSWERED, AppealStage.CLOSED, actor="resident:42", at=AT)
    assert record.comment is None
    assert record.visible_to_resident is True


def test_a_forbidden_move_is_reported_before_a_missing_comment() -> None:
    with pytest.raises(ForbiddenMove):
        validate_move(AppealStage.CLOSED, AppealStage.REJECTED, None)


def test_both_errors_are_domain_errors() -> None:
    assert issubclass(ForbiddenMove, DomainError)
    assert issubclass(CommentRequired, DomainError)


def test_an_internal_move_can_be_hidden_from_the_resident() -> None:
    record = move(
        AppealStage.NEW, AppealStage.ACCEPTED, actor="operator:7", at=AT, comment="to roads", visible_to_resident=False
    )
    assert record.visible_to_resident is False
    assert record.comment == "to roads"


def test_a_naive_moment_is_refused() -> None:
    naive = datetime(2026, 3, 2, 10, 30)
    with pytest.raises(ValueError, match="timezone-aware"):
        move(AppealStage.NEW, AppealStage.ACCEPTED, actor="operator:7", at=naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        StageMove(None, AppealStage.NEW, "resident:42", naive, None, True)


def test_the_creation_record_has_no_previous_stage() -> None:
    record = StageMove(None, AppealStage.NEW, "resident:42", AT, None, True)
    assert record.from_stage is None
