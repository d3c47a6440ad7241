"""Who is acting: the signed-in user (or API token owner) with their roles.

Plain data, free of FastAPI, so that services can take it; `app.web.deps` builds it per request.
"""

from dataclasses import dataclass

from app.errors import Forbidden
from app.i18n import gettext as _
from app.models.user import Role, User
from app.permissions import OVERSEERS, Permission, allowed


@dataclass
class Actor:
    """The signed-in user with their roles and login session."""

    user: User
    roles: frozenset[Role]
    session_id: int | None
    unread: int = 0  # in-app notifications, shown in the navigation

    @property
    def id(self) -> int:
        assert self.user.id is not None
        return self.user.id

    def can(self, permission: Permission) -> bool:
        return allowed(self.roles, permission)

    def may_touch(self, *owner_ids: int | None) -> bool:
        """Overseers act on anything; others only on objects they own."""
        return not OVERSEERS.isdisjoint(self.roles) or self.id in owner_ids

    def require_owner(self, *owner_ids: int | None) -> None:
        if not self.may_touch(*owner_ids):
            raise Forbidden(
                _("Only the owner, an administrator or top management may change this.")
            )
