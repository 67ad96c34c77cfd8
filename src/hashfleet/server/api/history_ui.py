"""``GET /api/history/timezones``: what the dashboard's history charts may ask for."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hashfleet.server.api.deps import get_state, user_principal
from hashfleet.server.auth.principal import Principal
from hashfleet.server.state import ServerState

router = APIRouter(prefix="/api/history", tags=["history"])


class TimezoneOut(BaseModel):
    """One configured timezone (``aggrTailLogTimezones``)."""

    code: str = Field(description="the name shown, e.g. UTC or CET")
    offset: int = Field(description="ms east of UTC, e.g. UTC-3 = -10800000")


@router.get(
    "/timezones",
    summary="The configured history timezones",
    response_model=list[TimezoneOut],
)
async def timezones(
    state: ServerState = Depends(get_state), _p: Principal = Depends(user_principal)
) -> list[TimezoneOut]:
    """The timezones tailLog accepts as ``timezoneOffset`` (UTC always among them)."""
    return [TimezoneOut(code=tz.code, offset=tz.offset) for tz in state.history.timezones]
