"""Asking questions in the chat: answers, suggestions, an honest "no", and the misses admins see."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from sqlalchemy import select

from bot.adapters.console import ConsoleChat
from bot.app import Application
from bot.config import Config
from bot.core.types import Incoming, Platform
from storage.db import session_factory
from storage.models import FaqItemEvent, UnmatchedQuestion
from storage.uow import UnitOfWork
from tests.conftest import ROOT, run_bot, run_bot_beside, write_config


async def stored_questions(app: Application) -> list[tuple[str, str | None]]:
    """The misses in the database, once what is queued is written."""
    await app.services.journal.flush()
    async with session_factory(app.engine)() as session:
        rows = (await session.execute(select(UnmatchedQuestion).order_by(UnmatchedQuestion.id))).scalars()
        return [(row.text, row.best_item_id) for row in rows]


async def item_uses(app: Application) -> list[tuple[str, str]]:
    """The FAQ answers shown and rated, as stored: by item and kind, with nobody's id."""
    await app.services.journal.flush()
    async with session_factory(app.engine)() as session:
        rows = (await session.execute(select(FaqItemEvent).order_by(FaqItemEvent.id))).scalars()
        return [(row.item_id, row.kind) for row in rows]


async def test_free_text_gets_a_confident_answer_and_only_a_view_is_counted(
    app: Application, chat: ConsoleChat
) -> None:
    shown = await chat.say("Здравствуйте, у нас второй день нет горячей воды")
    assert shown.startswith("❓ Почему нет горячей воды и когда её дадут?\n\nСначала проверьте")
    assert "  [1] 👍 Помогло\n  [2] 👎 Не помогло\n  [3] Задать другой вопрос\n  [4] Подать обращение\n" in shown
    assert await stored_questions(app) == []
    assert await item_uses(app) == [("hot-water-outage", "view")]
    assert {column.name for column in FaqItemEvent.__table__.columns} == {"id", "item_id", "kind", "created_at"}


async def test_one_tap_says_whether_an_answer_helped_and_stats_rank_the_answers(
    config: Config, app: Application, chat: ConsoleChat
) -> None:
    await chat.say("нет горячей воды")
    shown = await chat.say("👎 Не помогло")
    assert shown.startswith("❓ Почему нет горячей воды")  # the answer stays, its vote buttons go
    assert "Спасибо, что сказали: мы улучшим этот ответ." in shown
    assert "Помогло" not in shown
    await chat.say("не греют батареи")
    await chat.say("👍 Помогло")
    assert await item_uses(app) == [
        ("hot-water-outage", "view"),
        ("hot-water-outage", "unhelpful"),
        ("heating-problems", "view"),
        ("heating-problems", "helpful"),
    ]
    result = await run_bot_beside("--config", str(config.base_dir / "bot.toml"), "faq", "stats")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["views", "helpful", "not", "share", "item"]
    assert lines[1].split()[:5] == ["1", "1", "0", "100%", "heating-problems:"]
    assert lines[2].split()[:5] == ["1", "0", "1", "0%", "hot-water-outage:"]
    assert lines[3].split()[:4] == ["0", "0", "0", "-"]  # every item is listed, shown or not


async def test_browsing_a_topic_page_by_page_leads_to_an_answer(chat: ConsoleChat) -> None:
    await chat.say("/start")
    shown = await chat.say("Задать вопрос")
    assert "  [1] Безопасность\n  [2] Благоустройство\n" in shown
    assert "  [5] ЖКХ\n" in shown
    shown = await chat.say("ЖКХ")
    assert shown.startswith("ЖКХ: частые вопросы (страница 1 из 2).")
    assert "Почему нет горячей воды и когда её дадут?" in shown
    shown = await chat.say("Ещё ▸")
    assert shown.startswith("ЖКХ: частые вопросы (страница 2 из 2).")
    assert "Ещё ▸" not in shown
    shown = await chat.say("1")
    assert shown.startswith("❓ ")
    assert await chat.say("◂ Темы")


async def test_ask_button_then_question(chat: ConsoleChat) -> None:
    await chat.say("/start")
    assert (await chat.say("Задать вопрос")).startswith("Напишите вопрос своими словами")
    assert (await chat.say("не греют батареи")).startswith("❓ В квартире холодно, батареи еле тёплые")


async def test_unsure_question_offers_suggestions_and_a_press_shows_the_answer(
    app: Application, chat: ConsoleChat
) -> None:
    shown = await chat.say("автобус")
    lines = shown.splitlines()
    assert lines[0] == "Точного ответа я не нашёл. Может быть, вы спрашиваете об одном из этих вопросов?"
    assert lines[-1].endswith("Ничего не подходит — подать обращение")
    first_suggestion = lines[1].split("] ", 1)[1]
    assert (await chat.say("1")).startswith(f"❓ {first_suggestion}")
    [(text, best)] = await stored_questions(app)
    assert text == "автобус"
    assert best in {"bus-schedule", "bus-complaint", "transport-card"}


async def test_no_answer_says_so_offers_an_appeal_and_is_stored(app: Application, chat: ConsoleChat) -> None:
    shown = await chat.say("расскажи анекдот")
    assert shown == (
        "К сожалению, ответа на такой вопрос у меня нет. Вы можете подать обращение — его рассмотрят специалисты "
        "и ответят вам здесь же.\n  [1] Подать обращение\n  [2] Задать другой вопрос\n  [3] Главное меню"
    )
    await chat.say("расскажи анекдот!")
    await chat.say("Расскажи  АНЕКДОТ")
    assert [text for text, _ in await stored_questions(app)] == [
        "расскажи анекдот",
        "расскажи анекдот!",
        "Расскажи  АНЕКДОТ",
    ]
    async with UnitOfWork(session_factory(app.engine)) as uow:
        [miss] = await uow.unmatched.most_frequent()
    assert (miss.count, miss.normalized) == (3, "расскаж анекдот")


async def test_a_vague_message_asks_for_more_and_a_removed_item_is_explained(
    app: Application, chat: ConsoleChat
) -> None:
    assert (await chat.say("Здравствуйте!")).startswith("Не совсем понял вопрос.")
    assert (await chat.say("нет горячей воды")).startswith("❓ Почему нет горячей воды")
    replies = await app.dispatcher.feed(  # a button from an old message, for an item since removed from the FAQ
        Incoming(platform=Platform.CONSOLE, user_id="anna", chat_id="anna", payload="faq:item:removed-item")
    )
    assert replies[0].text.startswith("Этот ответ уже убрали из списка частых вопросов.")


async def test_misses_are_grouped_with_typos_and_word_forms_and_suggest_writes_a_review_file(
    config: Config, app: Application, chat: ConsoleChat
) -> None:
    asked = (
        "как оплатить штраф гибдд",
        "Как оплатить штраф ГИБДД?",
        "как аплатить штрафы гибдд",  # a typo and another word form: the same question
        "как оплатить штраф гибд",
        "расскажи анекдот",
        "автобус",  # the FAQ offers its bus items for this one
        "автобус",
    )
    for text in asked:
        await chat.say(text)
    await app.services.journal.flush()
    config_path = str(config.base_dir / "bot.toml")
    result = await run_bot_beside("--config", config_path, "faq", "misses")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split()[:4] == ["times", "closest", "item", "(score)"]
    assert lines[1].split()[0] == "4", result.stdout
    assert lines[1].endswith("как оплатить штраф гибдд")
    assert [line.strip() for line in lines[2:4]] == ["~ как оплатить штраф гибд", "~ как аплатить штрафы гибдд"]

    out = config.base_dir / "proposals.yaml"
    result = await run_bot_beside("--config", config_path, "faq", "suggest", "--out", str(out))
    assert result.returncode == 0, result.stderr
    proposals = yaml.safe_load(out.read_text(encoding="utf-8"))
    [new_item] = proposals["items"]  # asked at least twice and far from every item: a new one to answer
    assert new_item["question"] == "как оплатить штраф гибдд"
    assert (new_item["id"], new_item["answer"], new_item["asked"]) == ("kak-oplatit-shtraf-gibdd", "", 4)
    [variants] = proposals["new_variants"]  # close to an item already: new ways to ask it
    assert variants["variants"] == ["автобус"]
    assert variants["id"] in {"bus-schedule", "bus-complaint", "transport-card"}


def test_match_command_prints_one_json_object_per_line(tmp_path: Path) -> None:
    config_path = write_config(tmp_path, "sqlite+aiosqlite:///bot.sqlite3")
    result = run_bot(
        "--config",
        str(config_path),
        "faq",
        "match",
        "--faq",
        str(ROOT / "faq"),
        stdin="нет горячей воды\nрасскажи анекдот\n\nавтобус\n",
    )
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [record["query"] for record in records] == ["нет горячей воды", "расскажи анекдот", "автобус"]
    assert records[0]["outcome"] == "answer"
    assert records[0]["id"] == "hot-water-outage"
    assert records[0]["score"] > 45
    assert records[0]["suggestions"] == []
    assert records[1] == {"query": "расскажи анекдот", "outcome": "none", "id": None, "score": 0.0, "suggestions": []}
    assert records[2]["id"] is None
    assert records[2]["outcome"] in {"suggest", "answer"}
