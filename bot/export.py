"""Appeals of a period as a table for analysts: every moment of each appeal (opened, each stage, the first
response, the answer, the rating), its department, who acted, and whether its deadlines were met; as CSV or
XLSX. No resident's text, place or phone: the export is for statistics."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from bot.services.appeal_stages import AppealStage
from bot.services.appeals import RESIDENT_ACTOR, is_note, was_extended
from bot.services.notices import STAGE_TEXTS
from bot.texts import Texts
from storage.models import Appeal

Cell = str | int | datetime | None
# The stage moves with a column of their own, and the columns' headings (keys of texts, [export]).
MOVES = (AppealStage.ACCEPTED, AppealStage.IN_PROGRESS, AppealStage.ANSWERED, AppealStage.CLOSED)
COLUMNS = (
    "export.number", "export.category", "export.department", "export.stage", "export.opened",
    "export.moved_accepted", "export.moved_in_progress", "export.moved_answered", "export.moved_closed",
    "export.first_response", "export.first_response_due", "export.first_response_in_time",
    "export.resolution_due", "export.extended", "export.resolved_in_time", "export.finished", "export.rating",
    "export.rated", "export.photos", "export.actors",
)  # fmt: skip


def rows(appeals: Sequence[Appeal], texts: Texts, zone: ZoneInfo, now: datetime) -> list[list[Cell]]:
    """The heading, then one row per appeal; times in the municipality's time zone (spreadsheets know none)."""

    def local(moment: datetime | None) -> datetime | None:
        return moment.astimezone(zone).replace(tzinfo=None, microsecond=0) if moment is not None else None

    def met(done: datetime | None, due: datetime | None) -> str:
        if due is None:
            return ""
        if done is None:
            return texts("export.missed") if now > due else ""
        return texts("export.met") if done <= due else texts("export.missed")

    table: list[list[Cell]] = [[texts(column) for column in COLUMNS]]
    for appeal in appeals:
        moved = {event.to_stage: event.created_at for event in appeal.events if not is_note(event)}
        actors = sorted({event.actor for event in appeal.events if event.actor != RESIDENT_ACTOR})
        rating = appeal.ratings[-1] if appeal.ratings else None
        finished = appeal.closed_at
        table.append(
            [
                appeal.number,
                appeal.category,
                appeal.department,
                texts(STAGE_TEXTS[AppealStage(appeal.stage)]),
                local(appeal.created_at),
                *(local(moved.get(stage.value)) for stage in MOVES),
                local(appeal.first_response_at),
                local(appeal.first_response_due_at),
                met(appeal.first_response_at, appeal.first_response_due_at),
                local(appeal.resolution_due_at),
                texts("export.yes") if was_extended(appeal) else "",
                met(appeal.answered_at or finished, appeal.resolution_due_at),
                local(finished),
                rating.score if rating is not None else None,
                local(rating.created_at) if rating is not None else None,
                len(appeal.attachments),
                ", ".join(actors),
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
    return f"{cell:%Y-%m-%d %H:%M}" if isinstance(cell, datetime) else cell


def xlsx_bytes(table: list[list[Cell]], title: str) -> bytes:
    """One sheet: a bold heading row, frozen; dates as dates; columns wide enough to read."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = title[:31]
    for row in table:
        sheet.append(row)
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    sheet.freeze_panes = "A2"
    for column, heading in enumerate(table[0], start=1):
        letter = get_column_letter(column)
        for cell in sheet[letter][1:]:
            if isinstance(cell.value, datetime):
                cell.number_format = "DD.MM.YYYY HH:MM"
        sheet.column_dimensions[letter].width = max(12, min(40, len(str(heading)) + 2))
    file = io.BytesIO()
    book.save(file)
    return file.getvalue()
