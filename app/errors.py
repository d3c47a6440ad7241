"""Domain errors carry their HTTP status; handlers turn every error into a page or JSON."""

from app.i18n import gettext as _


class DomainError(Exception):
    """A rule was broken; the message is already in the user's language."""

    status_code = 400

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    status_code = 404

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _("The page or item you asked for does not exist."))


class Forbidden(DomainError):
    status_code = 403

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _("You do not have permission to do this."))


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    status_code = 422


class Unauthenticated(DomainError):
    status_code = 401

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or _("Please sign in to continue."))


class TooManyAttempts(DomainError):
    status_code = 429


class Unavailable(DomainError):
    """A part of the installation is missing, such as the libraries that draw PDFs."""

    status_code = 503
