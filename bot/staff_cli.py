"""`python -m bot appeals list | show | move | answer | route`: appeals for operators and their scripts.

Exit codes: 0 done; 1 the move or change is not allowed (the message says why); 2 bad configuration or
arguments; 3 no appeal with that number; 4 the database cannot be opened.
A number may be typed as people type it: "a-2026-123", "А 2026 000123", or just "123" for this year's.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.app import appeal_policy, load_texts, migrated_database, notices_for
from bot.config import Config
from bot.services.appeal_stages import AppealStage, DomainError
from bot.services.appeals import (
    AppealNotFound,
    answer_appeal,
    is_overdue,
    move_appeal,
    overdue_at,
    route_appeal,
    typed_number,
)
from storage.models import Appeal, utcnow
from storage.repositories import AppealFilter
from storage.uow import UnitOfWork

EXIT_OK, EXIT_REFUSED, EXIT_NOT_FOUND = 0, 1, 3


def add_dashboard_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    dashboard = commands.add_parser("dashboard", help="the managers' web dashboard")
    actions = dashboard.add_subparsers(dest="dashboard_command", required=True, metavar="ACTION")
    link = actions.add_parser("link", help="print a one-time sign-in link (valid 15 minutes)")
    link.add_argument("--member", type=int, default=None, help="a Telegram user id of the roster ([staff.members])")
    link.add_argument("--base", default=None, help="the dashboard's public address (default: from [web])")


async def dashboard_command(args: argparse.Namespace, config: Config) -> int:
    from bot.dashboard import CONSOLE_ADMIN
    from bot.services.sign_in import sign_in_link

    members = {member.telegram_id: member for member in config.settings.staff.members}
    if members and args.member not in members:
        print(f"error: --member must be a Telegram user id of [staff.members]: {', '.join(map(str, members))}",
              file=sys.stderr)  # fmt: skip
        return EXIT_REFUSED
    member_id = args.member if members else CONSOLE_ADMIN.telegram_id
    base = args.base or config.settings.web.base_url
    async with migrated_database(config) as sessions:
        print(await sign_in_link(sessions, member_id, base))
    return EXIT_OK


def add_api_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    api = commands.add_parser("api", help="tokens of the HTTP API and Open311")
    what = api.add_subparsers(dest="api_command", required=True, metavar="WHAT")
    token = what.add_parser("token", help="create, revoke or list tokens")
    actions = token.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = actions.add_parser("create", help="make a token; it is printed once, then only its hash is kept")
    create.add_argument("--name", required=True, help="who uses it, e.g. city-site")
    create.add_argument("--scope", choices=["read", "write"], default="read")
    revoke = actions.add_parser("revoke", help="stop a token from working")
    revoke.add_argument("name")
    actions.add_parser("list", help="the tokens, without their secrets")


async def api_command(args: argparse.Namespace, config: Config) -> int:
    from bot.services.api_tokens import create_token, revoke_token

    async with migrated_database(config) as sessions, UnitOfWork(sessions) as uow:
        try:
            if args.token_command == "create":
                secret = await create_token(uow, args.name, args.scope, utcnow())
                await uow.commit()
                print(secret)
                print(f"{args.name}: {args.scope} token; keep it now, it is not shown again", file=sys.stderr)
            elif args.token_command == "revoke":
                await revoke_token(uow, args.name, utcnow())
                await uow.commit()
                print(f"{args.name}: revoked")
            else:
                for known in await uow.api_tokens.all():
                    state = f"revoked {known.revoked_at:%Y-%m-%d}" if known.revoked_at else "valid"
                    print(f"{known.name:<24} {known.scope:<6} created {known.created_at:%Y-%m-%d}  {state}")
        except DomainError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REFUSED
    return EXIT_OK


def add_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    appeals = commands.add_parser("appeals", help="appeals for staff: list, show, move, answer, route")
    appeals.add_argument("--actor", default=None, help="who acts, for the history (default: staff:<login>)")
    actions = appeals.add_subparsers(dest="appeals_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="appeals, oldest first")
    listing.add_argument("--stage", choices=[stage.value for stage in AppealStage], action="append")
    listing.add_argument("--department")
    listing.add_argument("--overdue", action="store_true", help="only those past a deadline")
    listing.add_argument("--limit", type=_positive, default=200, help="at most this many (default: 200)")
    show = actions.add_parser("show", help="one appeal with its whole history")
    show.add_argument("number")
    move = actions.add_parser("move", help="move an appeal to another stage")
    move.add_argument("number")
    move.add_argument("stage", choices=[stage.value for stage in AppealStage])
    move.add_argument("--comment", default=None, help="shown to the resident unless --internal")
    move.add_argument("--internal", action="store_true", help="a note for staff only")
    answer = actions.add_parser("answer", help="give the official answer to the resident")
    answer.add_argument("number")
    answer.add_argument("--text", required=True)
    route = actions.add_parser("route", help="hand an appeal over to another department")
    route.add_argument("number")
    route.add_argument("department")
    route.add_argument("--comment", default=None, help="shown to the resident unless --internal")
    route.add_argument("--internal", action="store_true", help="a note for staff only")
    from bot.cli import anywhere

    anywhere(appeals, "--actor", help="who acts, for the history (default: staff:<login>)")


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number from 1 is needed, not {text!r}")
    return int(text)


async def appeals_command(args: argparse.Namespace, config: Config) -> int:
    policy = appeal_policy(config)
    notices = notices_for(config, load_texts(config))
    actor = args.actor or f"staff:{getpass.getuser()}"
    now = utcnow()
    zone = policy.calendar.timezone
    if getattr(args, "number", None) is not None:
        args.number = typed_number(args.number, year=now.astimezone(zone).year) or args.number.strip()
    async with migrated_database(config) as sessions, UnitOfWork(sessions) as uow:
        try:
            if args.appeals_command == "list":
                where = AppealFilter(stages=args.stage, department=args.department,
                                     overdue=overdue_at(now) if args.overdue else None)  # fmt: skip
                found = await uow.appeals.search(where, limit=args.limit)
                print_list(found, now, zone)
                if len(found) == args.limit and (total := await uow.appeals.count(where)) > len(found):
                    print(f"... the first {len(found)} of {total}; narrow the list or raise --limit")
                return EXIT_OK
            if args.appeals_command == "show":
                appeal = await uow.appeals.by_number(args.number)
                if appeal is None:
                    raise AppealNotFound(args.number)
                print_details(appeal, now, zone)
                return EXIT_OK
            changes: dict[str, Callable[[], Awaitable[Appeal]]] = {
                "move": lambda: move_appeal(
                    uow,
                    notices,
                    args.number,
                    AppealStage(args.stage),
                    actor=actor,
                    now=now,
                    comment=args.comment,
                    visible_to_resident=not args.internal,
                ),
                "answer": lambda: answer_appeal(uow, notices, args.number, args.text, actor=actor, now=now),
                "route": lambda: route_appeal(
                    uow,
                    policy,
                    args.number,
                    args.department,
                    actor=actor,
                    now=now,
                    comment=args.comment,
                    visible_to_resident=not args.internal,
                ),
            }
            appeal = await changes[args.appeals_command]()
            await uow.commit()
        except AppealNotFound as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_NOT_FOUND
        except DomainError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_REFUSED
    print(f"{appeal.number}: {appeal.stage}, {appeal.department}")
    return EXIT_OK


def when(moment: datetime | None, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M}" if moment else "-"


def print_list(appeals: list[Appeal], now: datetime, zone: ZoneInfo) -> None:
    if not appeals:
        print("no appeals")
        return
    print(f"{'number':<14} {'stage':<11} {'created':<16} {'first answer due':<16} {'resolve by':<16} department")
    for appeal in appeals:
        flag = "  OVERDUE" if is_overdue(appeal, now) else ""
        print(
            f"{appeal.number:<14} {appeal.stage:<11} {when(appeal.created_at, zone):<16} "
            f"{when(appeal.first_response_due_at, zone):<16} {when(appeal.resolution_due_at, zone):<16} "
            f"{appeal.department}{flag}"
        )


def print_details(appeal: Appeal, now: datetime, zone: ZoneInfo) -> None:
    place = appeal.address or (f"{appeal.latitude:.5f}, {appeal.longitude:.5f}" if appeal.latitude is not None else "-")
    print(f"{appeal.number}  {appeal.stage}{'  OVERDUE' if is_overdue(appeal, now) else ''}")
    print(f"category:          {appeal.category}")
    print(f"department:        {appeal.department}")
    print(f"created:           {when(appeal.created_at, zone)} ({zone.key})")
    print(
        f"first answer due:  {when(appeal.first_response_due_at, zone)}, given {when(appeal.first_response_at, zone)}"
    )
    print(f"resolve by:        {when(appeal.resolution_due_at, zone)}")
    print(f"place:             {place}")
    print(f"phone:             {appeal.phone or '-'}")
    kept = [a.media_path or f"({a.media_problem or 'not downloaded yet'})" for a in appeal.attachments]
    print(f"photos:            {', '.join(kept) or '-'} (in [media] path)")
    print(f"description:\n  {appeal.description}")
    if appeal.answer_text:
        print(f"answer:\n  {appeal.answer_text}")
    print("history:")
    for event in appeal.events:
        change = {
            "route": f"routed to {event.department}",
            "message": "message",
            "extension": "resolution deadline extended",
        }.get(event.kind, f"{event.from_stage or '-'} -> {event.to_stage}")
        seen = "" if event.visible_to_resident else " [internal]"
        note = f": {event.comment}" if event.comment else ""
        print(f"  {when(event.created_at, zone)}  {event.actor:<20} {change}{seen}{note}")
