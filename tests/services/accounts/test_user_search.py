"""Finding a person by name or e-mail address: every word must match, people who left come
last and are marked, at most a bounded number shown, and what is typed is taken literally."""

from sqlmodel import Session

from app.services.accounts import user_search
from app.services.search_terms import MATCH_LIMIT, Option
from tests.factories import make_department, make_user


def _found(session: Session, term: str) -> list[Option]:
    options, _more = user_search.find(session=session, term=term)
    return options


def _names(session: Session, term: str) -> list[str]:
    return [option.label for option in _found(session, term)]


class TestFind:
    def test_by_a_part_of_the_name(self, session: Session) -> None:
        make_user(session, name="钱少少")
        make_user(session, name="孙多多")
        assert _names(session, "少少") == ["钱少少"]

    def test_by_a_part_of_the_address_ignoring_case(self, session: Session) -> None:
        make_user(session, name="钱少少", email="qian.here@example.com")
        make_user(session, name="钱多多", email="qian.left@example.com")
        assert _names(session, "QIAN.HERE") == ["钱少少"]

    def test_every_word_must_match_the_name_or_the_address(self, session: Session) -> None:
        make_user(session, name="钱少少", email="qian.here@example.com")
        make_user(session, name="钱多多", email="qian.left@example.com")
        assert _names(session, "钱 here") == ["钱少少"]
        assert _names(session, "钱 elsewhere") == []

    def test_those_who_left_last_and_marked(self, session: Session) -> None:
        department = make_department(session, name="质量部")
        # By name alone the one who left would come first.
        left = make_user(session, name="钱 Amy", is_active=False)
        here = make_user(session, name="钱 Zoe", department_id=department.id)
        assert _found(session, "钱") == [
            Option(here.id or 0, "钱 Zoe", "质量部", inactive=False),
            Option(left.id or 0, "钱 Amy", "", inactive=True),
        ]

    def test_at_most_the_limit_with_a_flag_when_more_matched(self, session: Session) -> None:
        for n in range(MATCH_LIMIT):
            make_user(session, name=f"批量同事{n:02d}")
        options, more = user_search.find(session=session, term="批量同事")
        assert (len(options), more) == (MATCH_LIMIT, False)
        make_user(session, name="批量同事99")
        options, more = user_search.find(session=session, term="批量同事")
        assert (len(options), more) == (MATCH_LIMIT, True)

    def test_like_wildcards_are_taken_literally(self, session: Session) -> None:
        make_user(session, name="达标100%", email="full@example.com")
        make_user(session, name="达标1000", email="a_b@example.com")
        make_user(session, name="达标1001", email="axb@example.com")
        assert _names(session, "100%") == ["达标100%"]
        assert _names(session, "a_b") == ["达标1000"]
