"""The dashboard's answer (``GET /api/admin/stats``) and its endpoint's declaration."""

from __future__ import annotations

from pydantic import Field

from admin.schemas import GATE, TAG
from admin.stats import Coverage, Figure, Stats
from core.schemas import Answer, Endpoint, Timestamp, document


class FigureOut(Answer):
    value: int
    link: str | None = Field(description="The admin list behind the figure (null: none)")

    @classmethod
    def from_figure(cls, figure: Figure) -> FigureOut:
        return cls(value=figure.value, link=figure.link)


def _figures(figures: dict[str, Figure]) -> dict[str, FigureOut]:
    return {name: FigureOut.from_figure(figure) for name, figure in figures.items()}


class CoverageOut(Answer):
    """IDs with an active backup among all IDs."""

    with_backup: int
    of: int
    percent: float = Field(description="0 to 100, one decimal")
    link: str

    @classmethod
    def from_coverage(cls, coverage: Coverage) -> CoverageOut:
        return cls(**vars(coverage))


class StatsAnswer(Answer):
    """The dashboard's figures, each with the admin list behind it."""

    at: Timestamp = Field(description="When they were counted")
    users: dict[str, FigureOut] = Field(description="IDs: `total`, `active`, `deactivated`")
    devices: dict[str, FigureOut] = Field(
        description="`active`, `blocked`, `flagged` (its sign counter went back: maybe cloned)"
    )
    backup: CoverageOut
    sign_ins: dict[str, FigureOut] = Field(description="`last_24h`, `last_30d`")
    recoveries: dict[str, FigureOut] = Field(
        description="Completed recoveries (restored or duplicated): `last_24h`, `last_30d`"
    )
    mail: dict[str, FigureOut] = Field(
        description="Undelivered: `pending` (queued or retrying), `failed` (given up)"
    )

    @classmethod
    def from_stats(cls, stats: Stats) -> StatsAnswer:
        return cls(
            at=stats.at,
            users=_figures(stats.users),
            devices=_figures(stats.devices),
            backup=CoverageOut.from_coverage(stats.backup),
            sign_ins=_figures(stats.sign_ins),
            recoveries=_figures(stats.recoveries),
            mail=_figures(stats.mail),
        )


document(
    "admin_stats_api",
    stats=Endpoint(
        "The dashboard's figures (admins only)",
        tag=TAG,
        responses={200: StatsAnswer},
        errors=GATE,
    ),
)
