"""The admin API's requests and answers (``/api/admin``), and its endpoints' declarations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from admin.errors import (
    ConfirmationMismatch,
    Forbidden,
    LastAdmin,
    NoBackupAddress,
    OwnId,
    PolicyForbids,
    UserNotFound,
)
from admin.models import Role
from admin.users import Page, UserDetail, UserRow
from core.config import SETTINGS, Setting
from core.errors import NotFound, NotSignedIn, ReauthRequired
from core.schemas import Answer, Body, Endpoint, NoFields, Query, Timestamp, document
from webauthn.errors import DeviceNotFound
from webauthn.schemas import DeviceOut, SessionOut

TAG = "admin"
# What every admin endpoint may answer before anything else (checked in this order).
GATE = [(NotSignedIn, "signed out"), (Forbidden, "no role that may do this")]


class UsersQuery(Query):
    q: str | None = Field(
        default=None, max_length=256, description="Part of a username, address or display name"
    )
    status: Literal["active", "deactivated"] | None = None
    role: Role | None = None
    backup: bool | None = Field(default=None, description="With (true) or without (false) backup")
    flagged: bool = Field(default=False, description="Only IDs with a device flagged as cloned")
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=20, ge=1, le=100)


class AdminUserOut(Answer):
    """An ID in the administrator's list."""

    id: int
    username: str
    email: str
    display_name: str
    status: Literal["active", "deactivated"]
    roles: list[str]
    created_at: Timestamp
    last_sign_in_at: Timestamp | None = Field(description="The latest use of any of its devices")
    backup_active: bool
    device_count: int = Field(description="Active devices")

    @classmethod
    def from_row(cls, row: UserRow) -> AdminUserOut:
        user = row.user
        return cls(
            id=user.id,
            username=user.username,
            email=user.email,
            display_name=user.display_name,
            status="deactivated" if user.deactivated_at is not None else "active",
            roles=row.roles,
            created_at=user.created_at,
            last_sign_in_at=row.last_sign_in_at,
            backup_active=row.backup_active,
            device_count=row.device_count,
        )


class UsersPage(Answer):
    users: list[AdminUserOut]
    total: int
    page: int
    per_page: int

    @classmethod
    def from_page(cls, page: Page) -> UsersPage:
        return cls(
            users=[AdminUserOut.from_row(row) for row in page.users],
            total=page.total,
            page=page.page,
            per_page=page.per_page,
        )


class WebsiteOut(Answer):
    id: int
    website: str
    origin: str
    first_used_at: Timestamp
    last_used_at: Timestamp


class BackupOut(Answer):
    """Whether backup is active; never the code."""

    active: bool
    activated_at: Timestamp | None


class UserProfile(Answer):
    """One ID as an administrator sees it."""

    user: AdminUserOut
    devices: list[DeviceOut]
    sessions: list[SessionOut] = Field(description="The live ones only")
    websites: list[WebsiteOut]
    backup: BackupOut

    @classmethod
    def from_detail(cls, detail: UserDetail) -> UserProfile:
        return cls(
            user=AdminUserOut.from_row(detail.row),
            devices=[DeviceOut.from_device(d, None) for d in detail.devices],
            sessions=[SessionOut.from_info(s) for s in detail.sessions],
            websites=[WebsiteOut(**w) for w in detail.websites],
            backup=BackupOut(
                active=detail.backup_activated_at is not None,
                activated_at=detail.backup_activated_at,
            ),
        )


class SetRoles(Body):
    # Not strict for this field: the JSON string "admin" is read as Role.ADMIN (the names are
    # Role's, declared once).
    roles: list[Annotated[Role, Field(strict=False)]] = Field(max_length=2)


class PolicyChanges(Body):
    """Policy keys (as in the configuration reference) and their new values; `null` puts a
    key back to its configured value."""

    model_config = ConfigDict(strict=True, extra="allow", frozen=True)

    @property
    def changes(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


class PolicyDetail(Answer):
    key: str
    doc: str
    values: str = Field(description="What it accepts, in words")
    type: Literal["bool", "int", "str", "list"] = Field(description="Its values' type")
    choices: list[str] | None = Field(
        description="The words it accepts (a list: each at most once); null: any"
    )
    min: int | None = Field(description="A whole number's least value")
    max: int | None = Field(description="A whole number's greatest value")
    default: Any
    configured: Any = Field(description="After instance/config.py and the environment")
    stored: Any = Field(description="Set while running (null: nothing stored)")
    effective: Any
    updated_at: Timestamp | None
    updated_by: int | None = Field(description="The administrator's ID")


class PolicyAnswer(Answer):
    policy: dict[str, Any] = Field(description="Each policy's effective value")
    details: list[PolicyDetail]

    @classmethod
    def from_described(cls, described: list[Any]) -> PolicyAnswer:
        return cls(
            policy={d.key: d.effective for d in described},
            details=[PolicyDetail(**vars(d), **_declared(SETTINGS[d.key])) for d in described],
        )


def _declared(setting: Setting) -> dict[str, Any]:
    """What a form needs to edit a policy, from its one declaration (``core.config``)."""
    return {
        "type": setting.type.__name__,
        "choices": list(setting.choices) or None,
        "min": setting.min if setting.type is int else None,
        "max": setting.max if setting.type is int else None,
    }


class AdminDevice(Answer):
    device: DeviceOut


class EndedSessions(Answer):
    ended: int = Field(ge=0, description="How many live sessions were ended")


class UserAnswer(Answer):
    user: AdminUserOut


class DeleteUser(Body):
    confirm: str = Field(max_length=256, description="The ID's username, typed exactly")


class ReissueBackupCode(Body):
    deliver: Literal["email", "display"] = Field(
        description="`email`: to the ID's confirmed backup address; `display`: shown once here"
    )


class ShownBackupCode(Answer):
    backup_code: str = Field(description="Shown once: hand it over in person or read it out")


class MailedBackupCode(Answer):
    delivered: Literal["email"]


document(
    "admin_api",
    users=Endpoint(
        "List IDs (search, filters, pages)",
        tag=TAG,
        query=UsersQuery,
        responses={200: UsersPage},
        errors=GATE,
    ),
    user=Endpoint(
        "One ID: devices, live sessions, connected websites, backup state",
        tag=TAG,
        responses={200: UserProfile},
        errors=[*GATE, UserNotFound],
    ),
    set_roles=Endpoint(
        "Set an ID's roles (admins only; fresh verification)",
        tag=TAG,
        body=SetRoles,
        responses={200: UserAnswer},
        errors=[*GATE, ReauthRequired, UserNotFound, LastAdmin],
    ),
    block_device=Endpoint(
        "Block a device at once (fresh verification)",
        tag=TAG,
        body=NoFields,
        responses={200: AdminDevice},
        errors=[*GATE, ReauthRequired, DeviceNotFound],
    ),
    unblock_device=Endpoint(
        "Unblock a blocked device (fresh verification)",
        tag=TAG,
        body=NoFields,
        responses={200: AdminDevice},
        errors=[*GATE, ReauthRequired, DeviceNotFound],
    ),
    remove_device=Endpoint(
        "Unpair a device, the last one included (fresh verification)",
        tag=TAG,
        responses={204: "Removed"},
        errors=[*GATE, ReauthRequired, DeviceNotFound],
    ),
    policies=Endpoint(
        "The policies in force (admins only)",
        tag=TAG,
        responses={200: PolicyAnswer},
        errors=GATE,
    ),
    update_policy=Endpoint(
        "Change policies, all or none (admins only; fresh verification)",
        tag=TAG,
        body=PolicyChanges,
        responses={200: PolicyAnswer},
        errors=[*GATE, ReauthRequired],
    ),
    end_session=Endpoint(
        "End one live session of an ID (fresh verification)",
        tag=TAG,
        responses={204: "Ended"},
        errors=[*GATE, ReauthRequired, UserNotFound, (NotFound, "No such live session")],
    ),
    deactivate=Endpoint(
        "Deactivate an ID: sessions and website tokens end, nothing signs in or recovers until "
        "it is reactivated; data kept (fresh verification)",
        tag=TAG,
        body=NoFields,
        responses={200: UserAnswer},
        errors=[*GATE, ReauthRequired, UserNotFound, OwnId, LastAdmin],
    ),
    reactivate=Endpoint(
        "Reactivate a deactivated ID (fresh verification)",
        tag=TAG,
        body=NoFields,
        responses={200: UserAnswer},
        errors=[*GATE, ReauthRequired, UserNotFound],
    ),
    delete_user=Endpoint(
        "Delete an ID for good, its username typed to confirm (admins only; fresh verification)",
        tag=TAG,
        body=DeleteUser,
        responses={204: "Deleted"},
        errors=[*GATE, ConfirmationMismatch, ReauthRequired, UserNotFound, OwnId, LastAdmin],
    ),
    reissue_backup_code=Endpoint(
        "Re-issue a lost backup code by a channel the policy allows (fresh verification)",
        tag=TAG,
        body=ReissueBackupCode,
        responses={200: ShownBackupCode, 202: MailedBackupCode},
        errors=[*GATE, PolicyForbids, ReauthRequired, UserNotFound, NoBackupAddress],
    ),
    end_sessions=Endpoint(
        "End every session of an ID (fresh verification)",
        tag=TAG,
        body=NoFields,
        responses={200: EndedSessions},
        errors=[*GATE, ReauthRequired, UserNotFound],
    ),
)
