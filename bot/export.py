"""Appeals of a period as a table for analysts: every moment of each appeal (opened, each stage, the first
response, the answer, the rating), its department, who acted, and whether its deadlines were met; as CSV or
XLSX. No resident's text, place or phone: the export is for statistics."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import rustpy_xlsxwriter

from bot.services.appeal_stages import AppealStage
from bot.services.appeals import RESIDENT_ACTOR
from bot.services.notices import STAGE_TEXTS
from bot.texts import Texts
from storage.repositories import AppealTimeline

Cell = str | int | datetime | None
# The stage moves with a column of their own, and the columns' headings (keys of texts, [export]).
MOVES = tuple(stage.value for stage in (AppealStage.ACCEPTED, AppealStage.IN_PROGRESS, AppealStage.ANSWERED,
                                       AppealStage.CLOSED))  # fmt: skip
COLUMNS = (
    "export.number", "export.category", "export.department", "export.stage", "export.opened",
    "export.moved_accepted", "export.moved_in_progress", "export.moved_answered", "export.moved_closed",
    "export.first_response", "export.first_response_due", "export.first_response_in_time",
    "export.resolution_due", "export.extended", "export.resolved_in_time", "export.finished", "export.rating",
    "export.rated", "export.photos", "export.photo_links", "export.actors",
)  # fmt: skip


def rows(
    appeals: Sequence[AppealTimeline], texts: Texts, zone: ZoneInfo, now: datetime, media_url: str
) -> list[list[Cell]]:
    """The heading, then one row per appeal; times in the municipality's time zone (spreadsheets know none);
    photos as addresses under `media_url` (the dashboard's, which shows them to signed-in staff only)."""

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(zone).replace(tzinfo=None, microsecond=0) if moment is not None else None

    met, missed, yes = texts("export.met"), texts("export.missed"), texts("export.yes")

    def in_time(done: datetime | None, due: datetime | None) -> str:
        if due is None:
            return ""
        if done is None:
            return missed if now > due else ""
        return met if done <= due else missed

    stages = {stage: texts(STAGE_TEXTS[stage]) for stage in AppealStage}
    table: list[list[Cell]] = [[texts(column) for column in COLUMNS]]
    for appeal in appeals:
        score, rated = appeal.rating if appeal.rating is not None else (None, None)
        table.append(
            [
                appeal.number,
                appeal.category,
                appeal.department,
                stages[AppealStage(appeal.stage)],
                local(appeal.created_at),
                *(local(appeal.moves.get(stage)) for stage in MOVES),
                local(appeal.first_response_at),
                local(appeal.first_response_due_at),
                in_time(appeal.first_response_at, appeal.first_response_due_at),
                local(appeal.resolution_due_at),
                yes if appeal.extended else "",
                in_time(appeal.answered_at or appeal.closed_at, appeal.resolution_due_at),
                local(appeal.closed_at),
                score,
                local(rated),
                appeal.photos,
                " ".join(f"{media_url}/{path}" for path in appeal.kept_photos),
                ", ".join(sorted(appeal.actors - {RESIDENT_ACTOR})),
            ]
        )
    return table


def csv_bytes(table: list[list[Cell]]) -> bytes:
    """UTF-8 with a byte order mark and ";" between fields, as Russian Excel opens it without asking."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=";")
    for row in table:
        writer.writerow([_text(cell) for cell in row])
    return text.getvalue().encode("utf-8-sig")


def _text(cell: Cell) -> str | int:
    if cell is None:
        return ""
    return cell.isoformat(" ", "minutes") if isinstance(cell, datetime) else cell  # 2026-12-03 10:05


def xlsx_bytes(table: list[list[Cell]], title: str) -> bytes:
    """One sheet: a bold heading row, frozen; dates as dates; text as text (never a formula); columns wide enough
    to read."""
    heading = [str(name) for name in table[0]]
    # A sheet's columns are the records' keys: with no appeal, one record of blanks still writes the heading.
    records = [dict(zip(heading, row, strict=True)) for row in table[1:]] or [dict.fromkeys(heading)]
    file = io.BytesIO()
    rustpy_xlsxwriter.write_worksheet(
        records, file, sheet_name=title[:31], freeze_row=1, bold_headers=True, datetime_format="dd.mm.yyyy hh:mm",
        column_widths={name: max(12, min(40, len(name) + 2)) for name in heading},
    )  # fmt: skip
    return file.getvalue()
