"""The context a handler gets: the incoming message, the resident (or the staff member) and their dialog state,
and where replies go."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from bot.core.types import Button, Incoming, Keyboard, Reply
from bot.texts import Texts
from storage.repositories import ResidentProfile
from storage.uow import UnitOfWork

if TYPE_CHECKING:
    from bot.config import StaffMember
    from bot.services.toolbox import Services


@dataclass
class Replies:
    """The replies a handler queues for the chat its update came from."""

    incoming: Incoming
    replies: list[Reply] = field(default_factory=list, kw_only=True)

    def answer(self, text: str, buttons: Keyboard | list[list[Button]] = ()) -> None:
        """Queue a message to the resident; buttons are rows of `Button`."""
        self._reply(text, buttons, edit_message_id=None)

    def update_card(self, text: str, buttons: Keyboard | list[list[Button]] = ()) -> None:
        """Show this in place of the message whose button was pressed (a card that changes as the resident
        browses), where the platform can edit messages; otherwise as a new message."""
        edit = self.incoming.message_id if self.incoming.payload is not None else None
        self._reply(text, buttons, edit_message_id=edit)

    def _reply(self, text: str, buttons: Keyboard | list[list[Button]], edit_message_id: str | None) -> None:
        self.replies.append(
            Reply(text=text, buttons=tuple(tuple(row) for row in buttons), edit_message_id=edit_message_id)
        )


KEPT = "kept:"  # dialog data under keys starting with this outlive the dialog: a draft to come back to


@dataclass
class Context(Replies):
    resident: ResidentProfile
    texts: Texts
    uow: UnitOfWork
    services: Services
    state: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    args: str = ""

    async def resident_id(self) -> int:
        """The resident's id, for records that refer to them; a resident not stored yet is stored now."""
        if self.resident.id is None:
            incoming = self.incoming
            self.resident.id = await self.uow.residents.add(incoming.platform.value, incoming.user_id, self.resident)
        return self.resident.id

    def set_state(self, state: str, **data: Any) -> None:
        """Move the resident to a dialog step; `data` is merged into what the dialog has gathered."""
        self.state = state
        self.data.update(data)

    def forget_resident(self) -> None:
        """The resident's data were erased: from now on they are someone the bot has never met."""
        self.resident.id = None
        self.resident.display_name = None
        self.resident.consent_given_at = None
        self.clear_state(drafts_too=True)

    def clear_state(self, *, drafts_too: bool = False) -> None:
        """Leave any dialog and forget what it gathered, except drafts kept to come back to (data under keys
        starting with `KEPT`), unless `drafts_too`."""
        self.state = None
        self.data = {} if drafts_too else {key: value for key, value in self.data.items() if key.startswith(KEPT)}


@dataclass
class StaffContext(Replies):
    """An update from the staff group: `member` is the sender as the roster knows them, None for anyone else."""

    member: StaffMember | None
    texts: Texts
    uow: UnitOfWork
    services: Services
    args: str = ""
