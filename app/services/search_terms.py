"""What someone types into a search box that finds things by name: the words it is cut into,
how each is matched in SQL, and how many matches are shown."""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, func

# A search shows at most this many matches and asks for a longer term beyond: a page that
# offers them stays the same size however many clauses and people there are.
MATCH_LIMIT = 20
TERM_MAX = 100
TERM_WORDS = 5


@dataclass(frozen=True)
class Option:
    """One match: its id, how it is shown, and what tells it from a namesake."""

    id: int
    label: str
    note: str = ""  # a person's department
    inactive: bool = False


def words(term: str) -> list[str]:
    """The term's first few words, lower-cased; each must match."""
    return term[:TERM_MAX].lower().split()[:TERM_WORDS]


def contains(column: Any, word: str) -> ColumnElement[bool]:
    # lower() on both sides: PostgreSQL's LIKE minds case; autoescape keeps % and _ literal.
    return func.lower(column).contains(word, autoescape=True)


def starts_with(column: Any, word: str) -> ColumnElement[bool]:
    return func.lower(column).startswith(word, autoescape=True)
