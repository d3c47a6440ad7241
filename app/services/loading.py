"""Loading one object by id: the object, or the NotFound its feature words for the user."""

from typing import TypeVar

from app.errors import NotFound

T = TypeVar("T")


def found(obj: T | None, missing: str) -> T:
    """`obj` when the lookup found it; otherwise a 404 saying `missing` in the user's language."""
    if obj is None:
        raise NotFound(missing)
    return obj
