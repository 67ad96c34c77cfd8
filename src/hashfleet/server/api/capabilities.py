"""``GET /api/capabilities``: which actions each driver family can run.

The dashboard offers an action for a selection of things only when their families can run
it (``drivers/base.CAPABILITIES``, declared by each driver class); pushAction checks the
same thing again (``ERR_ACTION_UNSUPPORTED``). Rack actions change a rack's registry and
do not depend on a family.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from hashfleet.drivers.base import CAPABILITIES
from hashfleet.drivers.registry import families
from hashfleet.server.actions.model import RACK_ACTIONS
from hashfleet.server.actions.targets import family_capabilities
from hashfleet.server.api.deps import user_principal
from hashfleet.server.auth.principal import Principal

router = APIRouter(prefix="/api", tags=["actions"])


class CapabilitiesOut(BaseModel):
    """The control methods per driver family, and the rack actions."""

    families: dict[str, list[str]] = Field(
        description="family → the capabilities its driver declares (snake_case, sorted)"
    )
    capabilities: list[str] = Field(description="every capability name an action may use")
    rackActions: list[str] = Field(description="actions on a rack's registry, any family")


@router.get(
    "/capabilities",
    summary="Which actions each driver family can run",
    response_model=CapabilitiesOut,
)
async def capabilities(_p: Principal = Depends(user_principal)) -> CapabilitiesOut:
    """``{families: {family: [capability…]}, capabilities: […], rackActions: […]}``."""
    return CapabilitiesOut(
        families={f: sorted(family_capabilities(f)) for f in families()},
        capabilities=sorted(CAPABILITIES),
        rackActions=list(RACK_ACTIONS),
    )
