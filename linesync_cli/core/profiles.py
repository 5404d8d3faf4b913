"""Klaviyo profiles as linesync reads them: the link key's LINE properties and look-ups.

A profile's LINE data are the platform's custom properties (design.md section 1),
numbered when the link key is numbered (`LINE User ID 2` -> `LINE Display Name 2`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from linesync_cli.api.klaviyo_records import ProfileRecord
from linesync_cli.config import LinkKey

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient, ProfileField

# The platform's LINE properties, in the order a person reads them.
LINE_PROPERTY_BASES = (
    "LINE User ID",
    "LINE Display Name",
    "LINE Follow Status",
    "LINE Consent",
    "LINE Consent Updated At",
    "LINE Consent Source",
)


def line_property_names(link: LinkKey) -> list[str]:
    """The platform's LINE properties for this link key (numbered like the key)."""
    name = link.property_name if link.kind == "property" else None
    m = re.fullmatch(r"LINE User ID (\d+)", name or "")
    suffix = f" {m.group(1)}" if m else ""
    names = [base + suffix for base in LINE_PROPERTY_BASES]
    if name and name not in names:
        names.insert(0, name)  # a custom link property still heads the list
    return names


@dataclass(frozen=True)
class Profile(ProfileRecord):
    """A Klaviyo profile read through the link key."""

    @classmethod
    def of(cls, record: ProfileRecord) -> Profile:
        return cls(record.id, record.email, record.phone_number, record.external_id, record.properties)

    def line_properties(self, link: LinkKey) -> dict[str, Any]:
        return {n: self.properties.get(n) for n in line_property_names(link)}

    def linked_value(self, link: LinkKey) -> Any:
        """What the profile carries in the link key (None when nothing)."""
        if link.kind == "external_id":
            return self.external_id
        return self.properties.get(link.property_name or "")

    def to_json(self, link: LinkKey) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "phone_number": self.phone_number,
            "external_id": self.external_id,
            "line_properties": self.line_properties(link),
        }


def get_profile(client: KlaviyoClient, profile_id: str) -> Profile | None:
    """The profile; None when there is no such profile."""
    found = client.get_profile(profile_id)
    return Profile.of(found) if found is not None else None


def get_profiles_by_id(client: KlaviyoClient, profile_ids: Sequence[str]) -> dict[str, Profile]:
    """Many profiles at once (batched look-ups by ID)."""
    ids = list(dict.fromkeys(profile_ids))
    return {p.id: Profile.of(p) for p in client.profiles_in("id", ids)} if ids else {}


def find_profiles(client: KlaviyoClient, field_name: ProfileField, value: str) -> list[Profile]:
    """Profiles whose `email`, `phone_number` or `external_id` equals `value`."""
    return [Profile.of(r) for r in client.profiles_where(field_name, value)]
