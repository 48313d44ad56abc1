"""Command line: `python -m bot run | chat | db upgrade | db current`; exit codes scripts can rely on."""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from bot import logs
from bot.config import Config, ConfigError, load_config
from bot.core.delivery import TokenRefused
from bot.core.types import Platform
from bot.texts import TextsError
from storage.db import DatabaseUnreachable

if TYPE_CHECKING:
    from bot.app import Application
    from bot.core.delivery import Sender
    from bot.notifier import SendLimiter
    from bot.supervisor import TaskFailed
    from bot.web import Endpoint, WebServer

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_CONFIG = 2
EXIT_DATABASE = 4  # the database cannot be reached
EXIT_TOKEN = 5  # a platform refused the bot's token

# Allocations between two collections of the youngest objects (Python's default is 700): a request that builds
# 100,000 objects at once (an export) then meets a handful of collections instead of hundreds, and its time no
# longer depends on whether a full collection fell into it (the 90-day export: 308-313 ms instead of 321-387).
YOUNG_COLLECTION_ALLOCATIONS = 50_000

log = logging.getLogger("bot")


def settle_garbage_collector() -> None:
    """Once the bot has started. What start-up built (modules, models, the FAQ index) lives as long as the process:
    the garbage collector no longer walks it on every full collection (0.1-0.2 s each under load); and it collects
    young objects less often."""
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_ALLOCATIONS, *gc.get_threshold()[1:])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Priemnaya: residents' chatbot.")
    parser.add_argument(
        "--config",
        type=Path,
        default=None,
        help="path to bot.toml (default: $PRIEMNAYA_CONFIG or ./bot.toml)",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("run", help="run every configured platform; the console chat when none has a token")
    chat = commands.add_parser("chat", help="chat with the bot in this terminal")
    chat.add_argument("--user", default=None, help="the resident id to chat as (default: your login name)")
    db = commands.add_parser("db", help="database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True, metavar="ACTION")
    upgrade = db_commands.add_parser("upgrade", help="apply migrations (the bot also does it on start)")
    upgrade.add_argument("revision", nargs="?", default="head")
    db_commands.add_parser("current", help="print the schema revision of the database")

    faq = commands.add_parser("faq", help="the FAQ: check the files, try matching, improve it from what residents ask")
    faq_commands = faq.add_subparsers(dest="faq_command", required=True, metavar="ACTION")
    check = faq_commands.add_parser("check", help="report every problem in the FAQ files; exit 1 if any")
    check.add_argument("directory", nargs="?", type=Path, default=None, help="default: [faq] path of bot.toml")
    match = faq_commands.add_parser("match", help="read one question per line on stdin, print one JSON object per line")
    match.add_argument("--faq", type=Path, default=None, help="the FAQ folder (default: [faq] path of bot.toml)")
    misses = faq_commands.add_parser("misses", help="unanswered questions, grouped, with the closest item")
    misses.add_argument("--limit", type=int, default=20)
    misses.add_argument("--days", type=int, default=None, help="only questions of the last DAYS days")
    suggest = faq_commands.add_parser("suggest", help="write proposed new variants and items to a file for review")
    suggest.add_argument("--out", type=Path, default=Path("faq-suggestions.yaml"), help="default: %(default)s")
    suggest.add_argument("--days", type=int, default=None, help="only questions of the last DAYS days")
    suggest.add_argument("--min", type=int, default=2, help="only questions asked this often (default: %(default)s)")
    stats = faq_commands.add_parser("stats", help="items by views, and how helpful residents found each answer")
    stats.add_argument("--days", type=int, default=None, help="only the last DAYS days")

    answers = commands.add_parser("answers", help="the canned answers staff start an answer from: check the files")
    answers_commands = answers.add_subparsers(dest="answers_command", required=True, metavar="ACTION")
    check = answers_commands.add_parser("check", help="report every problem in the answer files; exit 1 if any")
    check.add_argument("directory", nargs="?", type=Path, default=None, help="default: [staff] answers of bot.toml")

    from bot.report import add_command as add_report
    from bot.staff_cli import add_api_commands, add_commands, add_dashboard_commands

    add_commands(commands)
    add_api_commands(commands)
    add_dashboard_commands(commands)
    add_report(commands)
    anywhere(parser, "--config", type=Path, help="path to bot.toml")
    return parser


def anywhere(parser: argparse.ArgumentParser, flag: str, **options: object) -> None:
    """Accept an option of `parser` after its subcommands too ("appeals show 12 --config x.toml"); given there,
    it wins, else the value given before (or its default) stands."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for subparser in action.choices.values():
                subparser.add_argument(flag, default=argparse.SUPPRESS, **options)
                anywhere(subparser, flag, **options)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
        configure_logging(config, console=args.command in ("chat", "run") and not config.enabled_platforms)
        return asyncio.run(dispatch(args, config))
    except (ConfigError, TextsError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except DatabaseUnreachable as exc:
        print(
            f"error: cannot open the database ({exc}): check [database] url in bot.toml or PRIEMNAYA_DATABASE_URL",
            file=sys.stderr,
        )
        return EXIT_DATABASE
    except BrokenPipeError:  # the reader went away (`| head`): stop quietly, and keep Python from complaining
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except KeyboardInterrupt:
        return EXIT_OK


def configure_logging(config: Config, *, console: bool) -> None:
    """The log goes to stderr, or to `[bot] log_file`; in the console chat to data/console.log unless that is
    set, so that it never runs into the conversation."""
    settings = config.settings.bot
    target = settings.log_file or ("data/console.log" if console else None)
    logs.configure(settings.log_level, settings.log_format, config.path(target) if target else None)


async def dispatch(args: argparse.Namespace, config: Config) -> int:
    if args.command == "db":
        return await database_command(args, config)
    if args.command == "report":
        from bot.report import report_command

        return await report_command(args, config)
    if args.command == "appeals":
        from bot.staff_cli import appeals_command

        return await appeals_command(args, config)
    if args.command == "dashboard":
        from bot.staff_cli import dashboard_command

        return await dashboard_command(args, config)
    if args.command == "api":
        from bot.staff_cli import api_command

        return await api_command(args, config)
    if args.command == "faq":
        from bot.faq.cli import faq_command

        return await faq_command(args, config)
    if args.command == "answers":
        return check_answers(args.directory or config.answers_path, config)
    if args.command == "run" and config.enabled_platforms:
        return await run_platforms(config)
    return await console_chat(config, getattr(args, "user", None), dashboard=args.command == "run")


def check_answers(directory: Path, config: Config) -> int:
    from bot.services.canned import load_canned

    answers, problems = load_canned(directory, config.settings.appeals.categories)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem(s) in {directory}", file=sys.stderr)
        return EXIT_FAILURE
    print(f"{directory}: {len(answers)} answers, no problems")
    return EXIT_OK


class PlatformAdapter(Protocol):
    @property
    def sender(self) -> Sender:
        """What the outbox sends this platform's notifications through."""

    def endpoints(self) -> dict[str, Endpoint]:
        """The paths the bot's web server serves for this platform (its webhook), by path; none when polling."""

    async def run(self, stop: asyncio.Event) -> None:
        """Receive and answer updates until `stop` is set, then finish the updates in hand and return."""


Paced = tuple[PlatformAdapter, "SendLimiter | None"]  # an adapter, and the limit the notifier keeps for each message


def telegram_adapter(app: Application) -> Paced:
    from bot.adapters.telegram import TelegramAdapter
    from handlers.menu import command_menu

    settings = app.config.settings.telegram
    adapter = TelegramAdapter(settings, app.dispatcher.feed, app.notifier.deliver, command_menu(app.texts))
    return adapter, app.rate_limiter(Platform.TELEGRAM)


def vk_adapter(app: Application) -> Paced:
    """VK counts every API request against the community's limit, so its sender paces each request itself."""
    from bot.adapters.vk import VkAdapter
    from bot.core.intake import StoredCursor

    settings = app.config.settings.vk
    adapter = VkAdapter(
        settings,
        app.dispatcher.feed,
        app.notifier.deliver,
        StoredCursor(app.sessions, f"vk:{settings.group_id}"),
        app.texts("platform.more_buttons"),
        limiter=app.rate_limiter(Platform.VK),
    )
    return adapter, None


# Platform name -> how to build its adapter; imported only when the platform has a token.
ADAPTERS: dict[str, Callable[[Application], Paced]] = {"telegram": telegram_adapter, "vk": vk_adapter}


async def run_platforms(config: Config) -> int:
    """Run every platform that has a token, with the background jobs, until SIGTERM or SIGINT."""
    from bot.app import Application

    app = await Application.start(config)
    stop = asyncio.Event()
    fatal: list[TaskFailed] = []

    def give_up(error: TaskFailed) -> None:
        fatal.append(error)
        stop.set()

    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signal_number, stop.set)
    running: dict[str, asyncio.Task[None]] = {}
    background = start_background(app, give_up)
    server: WebServer | None = None
    receiving = asyncio.Event()  # set to stop receiving, once the web server has answered what it was posted
    try:
        adapters: dict[str, PlatformAdapter] = {}
        for name in config.enabled_platforms:
            adapters[name], limiter = ADAPTERS[name](app)
            app.notifier.register(adapters[name].sender, limiter)
        endpoints: dict[str, Endpoint] = {}
        for name, adapter in adapters.items():
            for path, endpoint in adapter.endpoints().items():
                if path in endpoints:
                    raise ConfigError(f"{name}: the web path {path} is taken by another platform; give it another")
                endpoints[path] = endpoint
        server = await serve_web(app, endpoints)
        if config.settings.staff.topics and "telegram" in adapters:
            from bot.adapters.telegram import TelegramAdapter
            from bot.supervisor import supervise

            telegram = adapters["telegram"]
            assert isinstance(telegram, TelegramAdapter)
            desk = app.staff_desk(telegram.sender)
            interval = config.settings.notifications.sweep_interval
            background.append(asyncio.create_task(supervise("staff desk", lambda: desk.run(interval), give_up)))
        from bot.media import Downloader, MediaKeeper, MediaStore
        from bot.supervisor import supervise

        media = config.settings.media
        store = MediaStore(config.media_path, int(media.max_megabytes * 1_000_000))
        downloaders = {name: a.sender for name, a in adapters.items() if isinstance(a.sender, Downloader)}
        keeper = MediaKeeper(app.sessions, store, downloaders)
        sweep = config.settings.notifications.sweep_interval
        background.append(asyncio.create_task(supervise("media store", lambda: keeper.run(sweep), give_up)))
        settle_garbage_collector()
        running = {name: asyncio.create_task(adapter.run(receiving)) for name, adapter in adapters.items()}
        log.info("running: %s; stop with SIGTERM or Ctrl-C", ", ".join(running))
        stopping = asyncio.create_task(stop.wait())
        await asyncio.wait([*running.values(), stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if server is not None:  # first stop taking updates over HTTP, answering those being handled
            await server.stop()
            server = None
        receiving.set()  # one platform failed (or all stopped): stop the others too
        app.notifier.stop_waiting()  # replies waiting out a platform's limit are handed back, not awaited
        await asyncio.wait(running.values())
    finally:
        for signal_number in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signal_number)
        if server is not None:
            await server.stop()
        await stop_background(background)
        await app.close()
        log.info("stopped")
    failed = {name: task.exception() for name, task in running.items() if task.exception() is not None}
    refused = [error for error in failed.values() if isinstance(error, TokenRefused)]
    for name, error in failed.items():
        if isinstance(error, TokenRefused):
            log.error("%s stopped: %s", name, error)
        else:
            log.error("%s stopped: %s", name, error, exc_info=error)
    if refused:
        return EXIT_TOKEN
    return EXIT_FAILURE if failed or fatal else EXIT_OK


def start_background(app: Application, on_fatal: Callable[[TaskFailed], None]) -> list[asyncio.Task[None]]:
    """Start the app's background tasks, each supervised."""
    from bot.supervisor import supervise

    return [
        asyncio.create_task(supervise(name, factory, on_fatal), name=name)
        for name, factory in app.background_tasks().items()
    ]


async def stop_background(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def console_chat(config: Config, user: str | None, dashboard: bool = False) -> int:
    """The console chat; with `dashboard` (`make run` with no tokens) the dashboard beside it, with a sign-in
    link printed first, so that the console's own appeals show up in the browser at once."""
    from bot.adapters.console import ConsoleChat
    from bot.app import Application

    app = await Application.start(config)
    server = await serve_web(app, {}) if dashboard else None
    if server is not None:
        from bot.services.sign_in import sign_in_link

        link = await sign_in_link(app.sessions, staff_member_for_link(config), f"http://127.0.0.1:{server.port}")
        print(f"Панель для сотрудников (вход по одноразовой ссылке, 15 минут):\n{link}\n", flush=True)
    chat = ConsoleChat(app.dispatcher.feed, user_id=user)
    app.notifier.register(chat)
    failed: list[TaskFailed] = []
    running = asyncio.create_task(chat.run())

    def give_up(error: TaskFailed) -> None:
        failed.append(error)
        running.cancel()

    background = start_background(app, give_up)
    try:
        await asyncio.wait({running})
        if not failed:
            running.result()
    finally:
        if server is not None:
            await server.stop()
        await stop_background(background)
        await app.close()
    return EXIT_FAILURE if failed else EXIT_OK


def staff_member_for_link(config: Config) -> int:
    """Whom the console's sign-in link is for: the first admin or manager of the roster, else the console's."""
    from bot.dashboard import CONSOLE_ADMIN

    members = config.settings.staff.members
    chosen = next((m for m in members if m.role in ("admin", "manager")), members[0] if members else CONSOLE_ADMIN)
    return chosen.telegram_id


async def serve_web(app: Application, endpoints: dict[str, Endpoint]) -> WebServer | None:
    """The bot's web server: the platforms' webhooks (`endpoints`), the dashboard, and the API and Open311 where
    bot.toml turns them on. Without webhooks a busy port only costs the dashboard (logged), never the bot."""
    from bot.dashboard import Dashboard
    from bot.media import MediaStore
    from bot.web import WebServer

    config = app.config
    settings = config.settings
    store = MediaStore(config.media_path, int(settings.media.max_megabytes * 1_000_000))
    routes = Dashboard(
        app.sessions, app.texts, app.services.appeals, app.services.roster, settings.bot.authority, store,
        base_url=settings.web.base_url, faq=app.services.faq,
    ).routes()  # fmt: skip
    if settings.api.enabled:
        from bot.api import Api

        routes += Api(app.sessions, app.services.appeals, app.services.notices).routes()
    if settings.open311.enabled:
        from bot.open311 import Open311

        routes += Open311(
            app.sessions, app.services.appeals, app.services.notices, settings.open311, settings.bot.authority
        ).routes()
    server = WebServer(settings.web, endpoints, routes)
    try:
        await server.start()
    except OSError as exc:
        if endpoints:
            raise
        log.warning("the dashboard is not served: %s:%s cannot be used (%s)", settings.web.host, settings.web.port, exc)
        return None
    return server


async def database_command(args: argparse.Namespace, config: Config) -> int:
    from bot.app import create_database_engine
    from storage.db import current_revision, upgrade

    engine = create_database_engine(config)
    try:
        if args.db_command == "upgrade":
            await upgrade(engine, args.revision)
        print(f"database schema revision: {await current_revision(engine) or 'none'}")
    finally:
        await engine.dispose()
    return EXIT_OK
