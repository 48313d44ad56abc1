"""Appeals of a period as a table for analysts: every moment of each appeal (opened, each stage, the first
response, the answer, the rating), its department, who acted, and whether its deadlines were met; as CSV or
XLSX. No resident's text, place or phone: the export is for statistics."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import rustpy_xlsxwriter

from bot.services.appeal_stages import AppealStage
from bot.services.notices import STAGE_TEXTS
from bot.texts import Texts
from storage.uow import UnitOfWork

Cell = str | int | datetime | None
# Each field of an appeal's timeline (storage.repositories.AppealTimeline, in its order) and the key of its
# column's heading in the texts ([export]): a record is the timeline zipped with the headings.
COLUMNS = {
    "number": "export.number", "category": "export.category", "department": "export.department",
    "stage": "export.stage", "opened": "export.opened", "moved_to_accepted": "export.moved_accepted",
    "moved_to_in_progress": "export.moved_in_progress", "moved_to_answered": "export.moved_answered",
    "moved_to_closed": "export.moved_closed", "first_response": "export.first_response",
    "first_response_due": "export.first_response_due", "first_response_in_time": "export.first_response_in_time",
    "resolution_due": "export.resolution_due", "extended": "export.extended",
    "resolved_in_time": "export.resolved_in_time", "finished": "export.finished", "rating": "export.rating",
    "rated": "export.rated", "actors": "export.actors", "photos": "export.photos",
    "kept_photos": "export.photo_links",
}  # fmt: skip


class Table(NamedTuple):
    """An export: the columns' headings, and a record per appeal with a value under each heading, in order."""

    heading: list[str]
    records: list[dict[str, Cell]]


async def table(
    uow: UnitOfWork,
    texts: Texts,
    *,
    start: datetime,
    end: datetime,
    zone: ZoneInfo,
    now: datetime,
    media_url: str,
    departments: list[str] | None = None,
) -> Table:
    """A record per appeal opened in [start, end) (of `departments`, or all), as they were filed; times in the
    municipality's time zone (spreadsheets know none); deadlines judged at `now`; photos as addresses under
    `media_url` (the dashboard's, which shows them to signed-in staff only)."""
    appeals = uow.appeals.timelines(start, end, zone=zone.key, now=now, departments=departments)
    heading = [texts(key) for key in COLUMNS.values()]
    column = dict(zip(COLUMNS, heading, strict=True))
    stage, extended, links = column["stage"], column["extended"], column["kept_photos"]
    first_in_time, resolved_in_time = column["first_response_in_time"], column["resolved_in_time"]
    verdict = {True: texts("export.met"), False: texts("export.missed"), None: ""}
    yes = {True: texts("export.yes"), False: ""}
    stages = {stage.value: texts(STAGE_TEXTS[stage]) for stage in AppealStage}
    records: list[dict[str, Cell]] = []
    async for batch in appeals:
        for appeal in batch:
            # The fields as they are, then those shown in words (a hundred thousand records: made once each)
            record: dict[str, Any] = dict(zip(heading, appeal, strict=True))
            record[stage] = stages[appeal.stage]
            record[first_in_time] = verdict[appeal.first_response_in_time]
            record[extended] = yes[appeal.extended]
            record[resolved_in_time] = verdict[appeal.resolved_in_time]
            kept = appeal.kept_photos
            record[links] = " ".join([f"{media_url}/{path}" for path in kept]) if kept else ""
            records.append(record)
    return Table(heading, records)


def csv_bytes(table: Table) -> bytes:
    """UTF-8 with a byte order mark and ";" between fields, as Russian Excel opens it without asking."""
    text = io.StringIO(newline="")
    writer = csv.writer(text, delimiter=";")
    writer.writerow(table.heading)
    for record in table.records:
        writer.writerow([_text(cell) for cell in record.values()])
    return text.getvalue().encode("utf-8-sig")


def _text(cell: Cell) -> str | int:
    if cell is None:
        return ""
    return cell.isoformat(" ", "minutes") if isinstance(cell, datetime) else cell  # 2026-12-03 10:05


def xlsx_bytes(table: Table, title: str) -> bytes:
    """One sheet: a bold heading row, frozen; dates as dates; text as text (never a formula); columns wide enough
    to read."""
    # A sheet's columns are the records' keys: with no appeal, one record of blanks still writes the heading.
    # Handed over by a generator, whose steps run Python: the writer's thread then lets go of the interpreter
    # every few milliseconds, and the event loop (the residents' chats) gets its turns meanwhile.
    records = (record for record in table.records) if table.records else [dict.fromkeys(table.heading)]
    file = io.BytesIO()
    rustpy_xlsxwriter.write_worksheet(
        records, file, sheet_name=title[:31], freeze_row=1, bold_headers=True, datetime_format="dd.mm.yyyy hh:mm",
        column_widths={name: max(12, min(40, len(name) + 2)) for name in table.heading},
    )  # fmt: skip
    return file.getvalue()
