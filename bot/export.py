"""Appeals of a period as a table for analysts: every moment of each appeal (opened, each stage, the first
response, the answer, the rating), its department, who acted, and whether its deadlines were met; as CSV or
XLSX. No resident's text, place or phone: the export is for statistics."""

from __future__ import annotations

import csv
import io
from datetime import datetime
from zoneinfo import ZoneInfo

import rustpy_xlsxwriter

from bot.services.appeal_stages import AppealStage
from bot.services.notices import STAGE_TEXTS
from bot.texts import Texts
from storage.uow import UnitOfWork

Cell = str | int | datetime | None
# The columns' headings (keys of texts, [export]), in the order of `table`'s rows.
COLUMNS = (
    "export.number", "export.category", "export.department", "export.stage", "export.opened",
    "export.moved_accepted", "export.moved_in_progress", "export.moved_answered", "export.moved_closed",
    "export.first_response", "export.first_response_due", "export.first_response_in_time",
    "export.resolution_due", "export.extended", "export.resolved_in_time", "export.finished", "export.rating",
    "export.rated", "export.photos", "export.photo_links", "export.actors",
)  # fmt: skip


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
) -> list[list[Cell]]:
    """The heading, then one row per appeal opened in [start, end) (of `departments`, or all); times in the
    municipality's time zone (spreadsheets know none); deadlines judged at `now`; photos as addresses under
    `media_url` (the dashboard's, which shows them to signed-in staff only)."""
    appeals = uow.appeals.timelines(start, end, zone=zone.key, now=now, departments=departments)
    verdict = {True: texts("export.met"), False: texts("export.missed"), None: ""}
    extended = {True: texts("export.yes"), False: ""}
    stages = {stage.value: texts(STAGE_TEXTS[stage]) for stage in AppealStage}
    rows: list[list[Cell]] = [[texts(column) for column in COLUMNS]]
    async for batch in appeals:
        rows.extend(
            [
                appeal.number, appeal.category, appeal.department, stages[appeal.stage], appeal.opened,
                appeal.moved_to_accepted, appeal.moved_to_in_progress, appeal.moved_to_answered,
                appeal.moved_to_closed, appeal.first_response, appeal.first_response_due,
                verdict[appeal.first_response_in_time], appeal.resolution_due, extended[appeal.extended],
                verdict[appeal.resolved_in_time], appeal.finished, appeal.rating, appeal.rated, appeal.photos,
                " ".join([f"{media_url}/{path}" for path in appeal.kept_photos]) if appeal.kept_photos else "",
                appeal.actors,
            ]
            for appeal in batch
        )  # fmt: skip
    return rows


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
    # Made as the sheet takes them, not all at once: 100,000 of them are garbage the moment they are written.
    records = (
        (dict(zip(heading, row, strict=True)) for row in table[1:]) if len(table) > 1 else [dict.fromkeys(heading)]
    )
    file = io.BytesIO()
    rustpy_xlsxwriter.write_worksheet(
        records, file, sheet_name=title[:31], freeze_row=1, bold_headers=True, datetime_format="dd.mm.yyyy hh:mm",
        column_widths={name: max(12, min(40, len(name) + 2)) for name in heading},
    )  # fmt: skip
    return file.getvalue()
