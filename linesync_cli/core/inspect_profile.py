"""inspect-profile: the one profile a selector names (profile ID, email, phone, external_id, LINE user ID)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from linesync_cli.core.linkage import classify_line_user_id, normalise_phone
from linesync_cli.core.profiles import Profile, find_profiles, get_profile
from linesync_cli.errors import CheckFailed, UsageError

if TYPE_CHECKING:
    from linesync_cli.api.klaviyo import KlaviyoClient, ProfileField
    from linesync_cli.core.linkage import Resolver


@dataclass
class Located:
    profile: Profile
    how: str  # "profile ID", "email", "LINE user ID via <resolver>", ...


def locate_profile(klaviyo: Callable[[], KlaviyoClient], *, profile_id: str | None = None, email: str | None = None,
                   phone: str | None = None, external_id: str | None = None,
                   line_user_id: str | None = None, resolver: Resolver | None = None) -> Located:
    """The one profile a selector names; CheckFailed (exit 1) when there is none or several."""
    if line_user_id is not None:
        fmt = classify_line_user_id(line_user_id)
        if not fmt.ok:
            raise UsageError(f"--line-user-id {line_user_id!r} is not a LINE user ID: {fmt.hint}")
        if resolver is None:
            raise ValueError("locate_profile: a LINE user ID needs a resolver")  # a caller's bug, not a user's
        link = resolver.resolve([line_user_id])[line_user_id]
        if not link.profile_ids:
            raise CheckFailed(f"{line_user_id} is not linked to any profile ({resolver.description})",
                              hint=f"`linesync check-link {line_user_id}` says why and how linkage is made")
        if len(link.profile_ids) > 1:
            raise CheckFailed(f"{line_user_id} is on {len(link.profile_ids)} profiles: {', '.join(link.profile_ids)}",
                              hint="inspect one with --profile-id")
        profile_id, how = link.profile_ids[0], f"LINE user ID ({resolver.description})"
        found = get_profile(klaviyo(), profile_id)
        if found is None:
            raise CheckFailed(f"{line_user_id} resolves to profile {profile_id}, which Klaviyo does not have",
                              hint="the link index may be stale: run `linesync links sync`")
        return Located(found, how)
    if profile_id is not None:
        found = get_profile(klaviyo(), profile_id)
        if found is None:
            raise CheckFailed(f"Klaviyo has no profile with ID {profile_id}")
        return Located(found, "profile ID")
    field_name: ProfileField
    field_name, value, label = (
        ("email", email.strip(), "email") if email is not None
        else ("phone_number", normalise_phone(phone), "phone number") if phone is not None
        else ("external_id", (external_id or "").strip(), "external_id")
    )
    matches = find_profiles(klaviyo(), field_name, value)
    if not matches:
        raise CheckFailed(f"Klaviyo has no profile with {label} {value}",
                          hint="phone numbers are matched in E.164 form (+819012345678)" if phone else None)
    if len(matches) > 1:
        raise CheckFailed(f"{len(matches)} profiles have {label} {value}: {', '.join(p.id for p in matches)}",
                          hint="inspect one with --profile-id")
    return Located(matches[0], label)
