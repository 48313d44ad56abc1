"""The appeal wizard: consent, topic, description, photos, place, phone, a summary to confirm, then a number.

Every step is a dialog state kept in the database, so a restart resumes where the resident was; "Отмена" (the
button, /cancel or the word) works at every step and forgets what was typed.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from bot.core.context import Context
from bot.core.layout import shorten
from bot.core.routing import Router
from bot.core.types import Button
from bot.services.appeals import AppealDraft, open_appeal
from handlers.menu import APPEAL_DRAFT, OPEN_APPEAL, show_menu

router = Router("appeal")

CONSENT, CATEGORY, DESCRIPTION = "appeal:consent", "appeal:category", "appeal:description"
PHOTOS, PLACE, PHONE, CONFIRM = "appeal:photos", "appeal:place", "appeal:phone", "appeal:confirm"
STEPS = (CATEGORY, DESCRIPTION, PHOTOS, PLACE, PHONE, CONFIRM)

CANCEL = "appeal:cancel"
CONSENT_ANSWER = "appeal:consent"  # :yes / :no
CHOOSE_CATEGORY = "appeal:category"  # :<number of the category>
NEXT = "appeal:next"  # skip an optional step, or "done" with photos
SUBMIT = "appeal:submit"
EDIT = "appeal:edit"  # :<step>

DRAFT_ANSWER = "appeal:draft"  # :continue / :anew, for a half-filled appeal the resident left
SKIP_WORDS = frozenset({"пропустить", "пропусти", "готово", "дальше", "нет", "без фото"})
YES_WORDS = frozenset({"да", "согласен", "согласна", "согласен(на)", "ок", "ok", "хорошо", "даю согласие"})
NO_WORDS = frozenset({"нет", "не согласен", "не согласна", "не согласен(на)"})
DRAFT_FIELDS = ("category", "description", "photos", "address", "latitude", "longitude", "phone")
PHONE_DIGITS = re.compile(r"\D")


def cancel_button(ctx: Context) -> list[Button]:
    return [Button(ctx.texts("appeal.cancel"), CANCEL)]


@router.button(OPEN_APPEAL)
async def begin(ctx: Context) -> None:
    """A new appeal; or, with a half-filled one kept, the choice to continue it or start anew."""
    if await over_daily_limit(ctx):
        return
    draft = ctx.data.get(APPEAL_DRAFT)
    ctx.clear_state()
    if draft:
        shown = shorten(str(draft.get("description") or "—"), 80)
        ctx.answer(
            ctx.texts("appeal.draft_offer", category=draft.get("category") or "—", description=shown),
            [
                [Button(ctx.texts("appeal.draft_continue"), f"{DRAFT_ANSWER}:continue")],
                [Button(ctx.texts("appeal.draft_anew"), f"{DRAFT_ANSWER}:anew")],
                cancel_button(ctx),
            ],
        )
        return
    resume(ctx)


@router.button(DRAFT_ANSWER)
async def draft_answer(ctx: Context) -> None:
    draft = ctx.data.get(APPEAL_DRAFT)
    ctx.clear_state(drafts_too=True)
    if ctx.args == "continue" and draft:
        ctx.data.update({key: value for key, value in draft.items() if key in DRAFT_FIELDS})
        ctx.data["reached"] = draft.get("reached")
    resume(ctx)


@router.photos()
async def photos_first(ctx: Context) -> None:
    """Photos sent outside any dialog (a caption with them, or not): the start of an appeal, not lost."""
    ctx.clear_state(drafts_too=True)
    add_photos(ctx, [photo.file_id for photo in ctx.incoming.photos])
    caption = (ctx.incoming.text or "").strip()
    if description_problem(ctx, caption) is None:
        ctx.data["description"] = caption
    ctx.answer(ctx.texts("appeal.photos_first", count=len(ctx.data["photos"])))
    resume(ctx)


def resume(ctx: Context) -> None:
    """Go to the first step the appeal still needs: consent, topic, description, or where the resident was."""
    data = ctx.data
    if ctx.resident.consent_given_at is None:
        go_to(ctx, CONSENT)
    elif not data.get("category"):
        go_to(ctx, CATEGORY)
    elif not data.get("description"):
        go_to(ctx, DESCRIPTION)
    else:
        reached = data.pop("reached", None)
        go_to(ctx, reached if reached in STEPS[2:] else PHOTOS if ctx.services.limits.max_photos else PLACE)


@router.button(CONSENT_ANSWER)
async def consent(ctx: Context) -> None:
    """The answer to the consent question. Before consent nothing is stored, so the step may not be known here
    (a restart, another worker): the button is answer enough; a resident who consented already goes on."""
    if ctx.resident.consent_given_at is not None and ctx.state != CONSENT:
        resume(ctx) if ctx.args == "yes" else await stale(ctx)
        return
    if ctx.args != "yes":
        ctx.clear_state(drafts_too=True)
        show_menu(ctx, ctx.texts("appeal.consent_refused"))
        return
    ctx.resident.consent_given_at = ctx.services.clock()
    ctx.resident.display_name = ctx.incoming.display_name
    resume(ctx)


@router.button(CANCEL)
async def cancel(ctx: Context) -> None:
    ctx.clear_state(drafts_too=True)
    show_menu(ctx, ctx.texts("appeal.cancelled"))


@router.button(CHOOSE_CATEGORY)
async def category_button(ctx: Context) -> None:
    categories = list(ctx.services.appeals.categories)
    if ctx.state != CATEGORY or not ctx.args.isdigit() or int(ctx.args) >= len(categories):
        await stale(ctx)
        return
    ctx.data["category"] = categories[int(ctx.args)]
    advance(ctx)


@router.button(NEXT)
async def next_button(ctx: Context) -> None:
    if ctx.state == PLACE:
        ctx.data.update(address=None, latitude=None, longitude=None)
    elif ctx.state == PHONE:
        ctx.data["phone"] = None
    elif ctx.state != PHOTOS:
        await stale(ctx)
        return
    advance(ctx)


@router.button(EDIT)
async def edit(ctx: Context) -> None:
    step = f"appeal:{ctx.args}"
    if ctx.state != CONFIRM or step not in STEPS[:-1]:
        await stale(ctx)
        return
    ctx.data["editing"] = True
    if step == PHOTOS:
        ctx.data["photos"] = []
    go_to(ctx, step)


async def over_daily_limit(ctx: Context) -> bool:
    """True, with a polite refusal, when the resident filed as many appeals in 24 hours as bot.toml allows."""
    if ctx.resident.id is None:
        return False
    now, limit = ctx.services.clock(), ctx.services.limits.max_per_day
    filed = await ctx.uow.appeals.filed_since(ctx.resident.id, now - timedelta(days=1))
    if len(filed) < limit:
        return False
    zone = ctx.services.appeals.calendar.timezone
    after = f"{(filed[-limit] + timedelta(days=1)).astimezone(zone):%d.%m.%Y %H:%M}"
    ctx.clear_state()  # a draft stays kept, for tomorrow
    show_menu(ctx, ctx.texts("appeal.too_many_appeals", count=len(filed), after=after))
    return True


@router.button(SUBMIT)
async def submit(ctx: Context) -> None:
    if ctx.state != CONFIRM:
        await stale(ctx)
        return
    if await over_daily_limit(ctx):  # the draft stays: it can be sent tomorrow
        return
    data, services = ctx.data, ctx.services
    now = services.clock()
    appeal = await open_appeal(
        ctx.uow,
        services.appeals,
        await ctx.resident_id(),
        ctx.incoming.platform.value,
        AppealDraft(
            category=data["category"],
            description=data["description"],
            photos=tuple(data.get("photos", [])),
            address=data.get("address"),
            latitude=data.get("latitude"),
            longitude=data.get("longitude"),
            phone=data.get("phone"),
        ),
        now,
    )
    ctx.clear_state(drafts_too=True)
    zone = services.appeals.calendar.timezone
    show_menu(
        ctx,
        ctx.texts(
            "appeal.created",
            number=appeal.number,
            first_response=f"{appeal.first_response_due_at.astimezone(zone):%d.%m.%Y %H:%M}"
            if appeal.first_response_due_at
            else "",
            resolution=f"{appeal.resolution_due_at.astimezone(zone):%d.%m.%Y}" if appeal.resolution_due_at else "",
        ),
    )


@router.state(CONSENT)
async def consent_typed(ctx: Context) -> None:
    """ "да" or "нет" typed instead of pressed; anything else gets a short reminder, not the whole text again."""
    word = typed_word(ctx)
    if word in YES_WORDS or word in NO_WORDS:
        ctx.args = "yes" if word in YES_WORDS else "no"
        await consent(ctx)
        return
    ctx.answer(ctx.texts("appeal.consent_reminder"), consent_buttons(ctx))


@router.state(CATEGORY, CONFIRM)
async def expecting_a_button(ctx: Context) -> None:
    await stale(ctx)


@router.state(DESCRIPTION)
async def description(ctx: Context) -> None:
    text = (ctx.incoming.text or "").strip()
    if ctx.incoming.photos and ctx.services.limits.max_photos:  # a photo with a caption: both are welcome
        add_photos(ctx, [photo.file_id for photo in ctx.incoming.photos])
    if not text:
        await stale(ctx)
        return
    problem = description_problem(ctx, text)
    if problem is not None:
        ctx.answer(problem, [cancel_button(ctx)])
        return
    ctx.data["description"] = text
    advance(ctx)


def description_problem(ctx: Context, text: str) -> str | None:
    """Why a text cannot be the description (too short, too long, no words), or None."""
    limits = ctx.services.limits
    if len(text) < limits.description_min:
        return ctx.texts("appeal.description_too_short", min=limits.description_min)
    if len(text) > limits.description_max:
        return ctx.texts("appeal.description_too_long", length=len(text), max=limits.description_max)
    if sum(character.isalpha() for character in text) < max(3, limits.description_min // 2):
        return ctx.texts("appeal.description_no_words")
    return None


@router.state(PHOTOS)
async def photos(ctx: Context) -> None:
    if not ctx.incoming.photos:
        await (next_button(ctx) if said_skip(ctx) else stale(ctx))
        return
    maximum = ctx.services.limits.max_photos
    added = add_photos(ctx, [photo.file_id for photo in ctx.incoming.photos])
    count = len(ctx.data["photos"])
    done = [[Button(ctx.texts("appeal.photos_done"), NEXT)], cancel_button(ctx)]
    if not added:
        ctx.answer(ctx.texts("appeal.photos_full", max=maximum), done)
    else:
        ctx.answer(ctx.texts("appeal.photo_added", count=count, max=maximum), done)


@router.state(PLACE)
async def place(ctx: Context) -> None:
    location, text = ctx.incoming.location, (ctx.incoming.text or "").strip()
    if said_skip(ctx):
        await next_button(ctx)
        return
    if location is not None:
        ctx.data.update(latitude=location.latitude, longitude=location.longitude, address=None)
    elif text:
        ctx.data.update(address=text[:500], latitude=None, longitude=None)
    else:
        await stale(ctx)
        return
    advance(ctx)


@router.state(PHONE)
async def phone(ctx: Context) -> None:
    if said_skip(ctx):
        await next_button(ctx)
        return
    number = normalize_phone(ctx.incoming.text or "")
    if number is None:
        ctx.answer(ctx.texts("appeal.phone_invalid"), [[Button(ctx.texts("appeal.skip"), NEXT)], cancel_button(ctx)])
        return
    ctx.data["phone"] = number
    advance(ctx)


def normalize_phone(text: str) -> str | None:
    """A Russian phone number as +7XXXXXXXXXX, or None if the text is not one."""
    digits = PHONE_DIGITS.sub("", text)
    if len(digits) == 11 and digits[0] in "78":
        return "+7" + digits[1:]
    if len(digits) == 10 and digits[0] == "9":
        return "+7" + digits
    return None


def add_photos(ctx: Context, file_ids: list[str]) -> int:
    """Keep up to the limit of photos; returns how many were added."""
    photos: list[str] = ctx.data.setdefault("photos", [])
    room = max(0, ctx.services.limits.max_photos - len(photos))
    photos.extend(file_ids[:room])
    return min(room, len(file_ids))


def typed_word(ctx: Context) -> str:
    return (ctx.incoming.text or "").strip().strip(".!").casefold()


def said_skip(ctx: Context) -> bool:
    return typed_word(ctx) in SKIP_WORDS


async def stale(ctx: Context) -> None:
    """Input the current step cannot take (or a button of an earlier one): ask the step's question again.
    Outside the wizard, a button of an old one gets the menu."""
    if ctx.state in (CONSENT, *STEPS):
        ctx.answer(ctx.texts("appeal.wrong_input"))
        go_to(ctx, ctx.state)
    else:
        show_menu(ctx, ctx.texts("errors.stale_button"))


def advance(ctx: Context) -> None:
    """On to the next step, or back to the summary when the resident was editing one field."""
    if ctx.data.pop("editing", False):
        go_to(ctx, CONFIRM)
        return
    position = STEPS.index(ctx.state) if ctx.state in STEPS else -1
    following = STEPS[position + 1]
    if following == DESCRIPTION and ctx.data.get("description"):  # given already (a photo's caption)
        following = PHOTOS
    if following == PHOTOS and ctx.services.limits.max_photos == 0:
        following = PLACE
    go_to(ctx, following)


def consent_buttons(ctx: Context) -> list[list[Button]]:
    answers = [
        Button(ctx.texts("appeal.consent_yes"), f"{CONSENT_ANSWER}:yes"),
        Button(ctx.texts("appeal.consent_no"), f"{CONSENT_ANSWER}:no"),
    ]
    return [answers, cancel_button(ctx)]


def go_to(ctx: Context, step: str) -> None:
    """Enter a step: set the state, keep what the appeal has so far as a draft (should the resident leave),
    and ask the step's question."""
    ctx.set_state(step)
    if step in STEPS and not ctx.data.get("editing"):
        draft = {key: ctx.data[key] for key in DRAFT_FIELDS if key in ctx.data}
        ctx.data[APPEAL_DRAFT] = {**draft, "reached": step}
    texts, limits = ctx.texts, ctx.services.limits
    skip = [Button(texts("appeal.skip"), NEXT)]
    if step == CONSENT:
        ctx.answer(texts("appeal.consent"), consent_buttons(ctx))
    elif step == CATEGORY:
        names = list(ctx.services.appeals.categories)
        buttons = [Button(name, f"{CHOOSE_CATEGORY}:{number}") for number, name in enumerate(names)]
        rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
        ctx.answer(texts("appeal.category"), [*rows, cancel_button(ctx)])
    elif step == DESCRIPTION:
        text = texts("appeal.description", min=limits.description_min, max=limits.description_max)
        ctx.answer(text, [cancel_button(ctx)])
    elif step == PHOTOS:
        label = "appeal.photos_done" if ctx.data.get("photos") else "appeal.no_photos"
        ctx.answer(texts("appeal.photos", max=limits.max_photos), [[Button(texts(label), NEXT)], cancel_button(ctx)])
    elif step == PLACE:
        ctx.answer(texts("appeal.place"), [skip, cancel_button(ctx)])
    elif step == PHONE:
        ctx.answer(texts("appeal.phone"), [skip, cancel_button(ctx)])
    else:
        ctx.answer(summary(ctx, ctx.data), summary_buttons(ctx))


def summary(ctx: Context, data: dict[str, Any]) -> str:
    texts = ctx.texts
    none = texts("appeal.summary_none")
    if data.get("latitude") is not None:
        place = texts("appeal.summary_location", latitude=data["latitude"], longitude=data["longitude"])
    else:
        place = data.get("address") or none
    return texts(
        "appeal.summary",
        category=data["category"],
        description=data["description"],
        photos=len(data.get("photos", [])) or none,
        place=place,
        phone=data.get("phone") or none,
    )


def summary_buttons(ctx: Context) -> list[list[Button]]:
    texts = ctx.texts
    rows = [
        [Button(texts("appeal.submit"), SUBMIT)],
        [
            Button(texts("appeal.edit_category"), f"{EDIT}:category"),
            Button(texts("appeal.edit_description"), f"{EDIT}:description"),
        ],
        [Button(texts("appeal.edit_place"), f"{EDIT}:place"), Button(texts("appeal.edit_phone"), f"{EDIT}:phone")],
        cancel_button(ctx),
    ]
    if ctx.services.limits.max_photos:
        rows.insert(2, [Button(texts("appeal.edit_photos"), f"{EDIT}:photos")])
    return rows
