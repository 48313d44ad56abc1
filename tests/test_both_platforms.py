"""One `python -m bot run` serves Telegram and VK together, with one notifier: every notification goes back to
the platform its appeal came from."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import pytest

from bot.app import Application
from bot.config import load_config
from bot.services.appeal_stages import AppealStage
from bot.services.appeals import AppealDraft, move_appeal, open_appeal
from storage.models import utcnow
from storage.uow import UnitOfWork
from tests import fake_telegram, fake_vk
from tests.conftest import ROOT, spawn_bot, stored_resident, write_config
from tests.residents import VK_TOKEN
from tests.test_telegram import TOKEN

pytestmark = pytest.mark.slow

ANNA = fake_telegram.User(8001, "Анна")
BORIS = fake_vk.User(8001, "Борис")  # the same number on VK is another person


async def test_telegram_and_vk_in_one_process_each_notice_to_its_platform(tmp_path: Path) -> None:
    telegram, vk = fake_telegram.FakeTelegram(), fake_vk.FakeVK(token=VK_TOKEN, rate_limit=20)
    await telegram.start()
    await vk.start()
    database = f"sqlite+aiosqlite:///{tmp_path / 'bot.sqlite3'}"
    config = write_config(
        tmp_path,
        database,
        f'[telegram]\napi_base = "{telegram.url}"\n[vk]\ngroup_id = {fake_vk.GROUP_ID}\napi_base = "{vk.url}"\n'
        "[notifications]\ntelegram_chat_interval = 0.05\nsweep_interval = 0.2\n",
    )
    log = tmp_path / "bot.log"
    with log.open("w") as output:
        process = await spawn_bot(config, TOKEN, output, vk_token=VK_TOKEN)
    try:
        await telegram.wait_until(lambda: telegram.calls_of("getUpdates"), seconds=60)
        await vk.wait_until(lambda: vk.polled_ts > 0, seconds=60)
        telegram.push(telegram.message_update(ANNA, "/start"))
        vk.push(vk.start_button(BORIS))
        await telegram.wait_until(lambda: telegram.chats[ANNA.id], seconds=20)
        await vk.wait_until(lambda: vk.chats[BORIS.id], seconds=20)
        assert telegram.chats[ANNA.id][0].text.startswith("Здравствуйте, Анна!")
        assert vk.chats[BORIS.id][0].text.startswith("Здравствуйте, Борис!")

        staff = await Application.start(load_config(config, environ={}))  # another process, as the staff CLI is
        try:
            async with UnitOfWork(staff.sessions) as uow:
                numbers = {}
                for platform, user in (("telegram", ANNA.id), ("vk", BORIS.id)):
                    resident = await stored_resident(uow, platform, str(user))
                    draft = AppealDraft("ЖКХ", f"Не работает лифт, житель {platform}")
                    appeal = await open_appeal(uow, staff.services.appeals, resident, platform, draft, utcnow())
                    numbers[platform] = appeal.number
                for number in numbers.values():
                    notices = staff.services.notices
                    await move_appeal(uow, notices, number, AppealStage.ACCEPTED, actor="staff", now=utcnow())
                await uow.commit()
        finally:
            await staff.close()
        await telegram.wait_until(lambda: len(telegram.chats[ANNA.id]) == 2, seconds=20)
        await vk.wait_until(lambda: len(vk.chats[BORIS.id]) == 2, seconds=20)
        assert telegram.chats[ANNA.id][1].text == f"Обращение {numbers['telegram']}: новый этап — «Зарегистрировано»."
        assert vk.chats[BORIS.id][1].text == f"Обращение {numbers['vk']}: новый этап — «Зарегистрировано»."
        await asyncio.sleep(0.5)  # nothing else arrives: no notice went to the other platform
        assert (len(telegram.chats[ANNA.id]), len(vk.chats[BORIS.id])) == (2, 2)
        assert vk.throttled == 0
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
        await telegram.close()
        await vk.close()
    assert code == 0, log.read_text()
    assert "Traceback" not in log.read_text()
    assert not (ROOT / ".vkbottle").exists()
