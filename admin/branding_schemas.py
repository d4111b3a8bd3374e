"""The branding API's requests and answers (``/api/admin/branding``), and its declarations."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import Field

from admin.errors import Forbidden
from core import branding
from core.branding import Brand
from core.errors import NotSignedIn, PayloadTooLarge, ReauthRequired, UnsupportedMediaType
from core.logo import FORMATS, MAX_BYTES, LogoRefused
from core.schemas import Answer, Body, Checked, Endpoint, ErrorSpec, Timestamp, document
from core.users import TextRule

TAG = "admin"
GATE: list[ErrorSpec] = [
    (NotSignedIn, "signed out"),
    (Forbidden, "no role that may do this (admins only)"),
]
NAME = TextRule(min_length=1, max_length=branding.NAME_MAX)
ACCENT = TextRule(min_length=7, max_length=7, characters="[#0-9A-Fa-f]")

Name = Annotated[str, Checked(branding.normalise_name, NAME)]
Accent = Annotated[str, Checked(branding.normalise_accent, ACCENT, format="color")]


class BrandingChanges(Body):
    """What to change; a key left out stays as it is, `null` puts it back to the default
    (the name: RP_NAME; the colour: the style sheet's)."""

    name: Name | None = Field(
        default=None, description="The organisation's name: 1 to 64 printable characters"
    )
    accent_color: Accent | None = Field(default=None, description="`#rrggbb`")

    @property
    def changes(self) -> dict[str, str | None]:
        return {field: getattr(self, field) for field in sorted(self.model_fields_set)}


class LogoOut(Answer):
    url: str = Field(description="Where it is served (changes with the image: cache it)")
    content_type: str
    sha256: str


class BrandingOut(Answer):
    name: str = Field(description="As pages and mail show it")
    accent_color: str
    logo: LogoOut | None
    default_name: str = Field(description="RP_NAME: the name when none is set")
    default_accent_color: str
    updated_at: Timestamp | None
    updated_by: int | None = Field(description="The administrator's ID")


class BrandingAnswer(Answer):
    branding: BrandingOut

    @classmethod
    def from_brand(cls, brand: Brand, config: Mapping[str, Any]) -> BrandingAnswer:
        logo = None
        if brand.logo_path and brand.logo_hash and brand.logo_content_type:
            logo = LogoOut(
                url=brand.logo_path, content_type=brand.logo_content_type, sha256=brand.logo_hash
            )
        return cls(
            branding=BrandingOut(
                name=brand.name,
                accent_color=brand.accent_color,
                logo=logo,
                default_name=config["RP_NAME"],
                default_accent_color=branding.DEFAULT_ACCENT,
                updated_at=brand.updated_at,
                updated_by=brand.updated_by,
            )
        )


CHANGE: list[ErrorSpec] = [*GATE, ReauthRequired]

document(
    "admin_branding",
    show=Endpoint(
        "The organisation's name, accent colour and logo (admins only)",
        tag=TAG,
        responses={200: BrandingAnswer},
        errors=GATE,
    ),
    update=Endpoint(
        "Change the name and accent colour (admins only; fresh verification)",
        tag=TAG,
        body=BrandingChanges,
        responses={200: BrandingAnswer},
        errors=CHANGE,
    ),
    upload_logo=Endpoint(
        "Upload the logo (admins only; fresh verification)",
        tag=TAG,
        description=(
            f"The body is the image itself, {' or '.join(FORMATS)}, at most "
            f"{MAX_BYTES // 1024} KiB. Its bytes must be what its type says; it is decoded and "
            "written anew (metadata dropped, scaled to fit 512×512 pixels). SVG, GIF, animated "
            "images and images declaring more than 4096 pixels a side are refused."
        ),
        responses={200: BrandingAnswer},
        errors=[
            *CHANGE,
            (LogoRefused, "not a PNG or JPEG, not what its type says, too big, or unreadable"),
            (PayloadTooLarge, f"Body over {MAX_BYTES // 1024} KiB"),
            (UnsupportedMediaType, "Body is not an image"),
        ],
    ),
    remove_logo=Endpoint(
        "Remove the logo (admins only; fresh verification)",
        tag=TAG,
        responses={204: "Removed (or there was none)"},
        errors=CHANGE,
    ),
)
