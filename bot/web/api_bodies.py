"""The JSON bodies of the routes integrators drive a person with: one text, a flow, a profile.

Each is a pydantic model: it checks a body, and its JSON schema is what openapi.json documents
(`bot.web.api.openapi`). Unknown fields are refused, so a misspelt one is never silently lost.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from bot.conversations.requests import KEEP, ProfilePatch
from bot.domain.policy import is_known_zone
from bot.sending.outbox import MAX_TEXT_CHARS
from bot.web.errors import InvalidInput

MAX_ID_CHARS = 128  # message.external_id and event.external_id hold this much
MAX_MEDIA = 10  # Twilio's limit for one MMS
# A word a person reads on one line: no control characters (a tab or line break included).
ONE_LINE = r"^[^\x00-\x1f\x7f]*$"
# A tag also never holds ";", which separates tags in an export's one cell.
Tag = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[^\x00-\x1f\x7f;]+$")]
AttributeName = Annotated[str, Field(min_length=1, max_length=64, pattern=ONE_LINE)]
MediaUrl = Annotated[str, Field(max_length=2048, pattern=r"^https?://[^\s]+$")]
# Fields no integrator may send to the profile: consent changes only by the person's own
# texts (STOP, START, JOIN and Y) and by signups, so that it is true and in the ledger.
CONSENT_FIELDS = ("status", "consent")

_ID_DESCRIPTION = f"your id for it: 1 to {MAX_ID_CHARS} characters written as text"


def client_id(value: str | int | None) -> str | None:
    """An API client's id as stored (numbers become text); None when there is none."""
    if value is None:
        return None
    text = str(value).strip()
    if not text or len(text) > MAX_ID_CHARS:
        raise InvalidInput("id", f"id: must be 1 to {MAX_ID_CHARS} characters")
    return text


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageRequest(_Strict):
    """POST /api/messages: one text to one person, through the send policy."""

    phone: str = Field(min_length=1, max_length=40)
    purpose: Literal["transactional", "promotional"]
    media_urls: list[MediaUrl] = Field(default_factory=list, max_length=MAX_MEDIA)
    body: str = Field(max_length=MAX_TEXT_CHARS)
    # Strict: `true` is not the id 1, nor 1.0 the id "1" (pydantic's lax mode would take both).
    id: StrictStr | StrictInt | None = Field(default=None, description=_ID_DESCRIPTION)

    @field_validator("body")
    @classmethod
    def _something_to_send(cls, body: str, info: ValidationInfo) -> str:
        if not body.strip() and not info.data.get("media_urls"):
            raise PydanticCustomError("empty_text", "is empty and there are no media_urls")
        return body


class FlowStartRequest(_Strict):
    """POST /api/flows/<name>/start: start a flow for one person."""

    phone: str = Field(min_length=1, max_length=40)
    data: dict[str, Any] = Field(
        default_factory=dict, description="what the flow's texts read as {{event.<key>}}"
    )


class TagChanges(_Strict):
    """Tags to add to a person and tags to take off."""

    add: list[Tag] = Field(default_factory=list, max_length=100)
    remove: list[Tag] = Field(default_factory=list, max_length=100)

    @model_validator(mode="after")
    def _each_tag_once(self) -> TagChanges:
        both = sorted(set(self.add) & set(self.remove))
        if both:
            raise PydanticCustomError(
                "tag_added_and_removed",
                "{tags} both added and removed: say one",
                {"tags": ", ".join(both)},
            )
        return self


class ProfileChanges(_Strict):
    """PATCH /api/subscribers/<phone>: what to change in a profile; a field left out stays."""

    first_name: str | None = Field(
        default=None, min_length=1, max_length=100, pattern=ONE_LINE, description="null forgets it"
    )
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="an IANA time zone (America/Chicago); null: go by the number",
    )
    attributes: dict[AttributeName, Any] = Field(
        default_factory=dict, description="merged into the attributes; a null value removes one"
    )
    tags: TagChanges = Field(default_factory=TagChanges)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, zone: str | None) -> str | None:
        if zone is not None and not is_known_zone(zone):
            raise PydanticCustomError(
                "unknown_zone",
                "'{zone}' is not an IANA time zone such as America/Chicago",
                {"zone": zone},
            )
        return zone

    def patch(self) -> ProfilePatch:
        """The changes, telling a field left out (kept) from one sent as null (forgotten)."""
        given = self.model_fields_set
        return ProfilePatch(
            first_name=self.first_name if "first_name" in given else KEEP,
            timezone=self.timezone if "timezone" in given else KEEP,
            attributes=self.attributes,
            add_tags=tuple(dict.fromkeys(self.tags.add)),
            remove_tags=tuple(self.tags.remove),
        )
