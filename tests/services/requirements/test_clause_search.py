"""Finding a clause by number or title word: the exact number first, every word must match,
at most a bounded number shown, and what is typed is taken literally."""

from typing import Any

from sqlmodel import Session

from app.i18n import use_locale
from app.models.requirement import Confidence, Framework, Requirement
from app.services.requirements import clause_search
from app.services.search_terms import MATCH_LIMIT


def _catalogue(session: Session, code: str, clauses: list[tuple[str, str, str]]) -> Framework:
    """A catalogue with one chapter (99) holding these (number, Chinese title, English title)
    clauses in this order."""
    framework = Framework(code=code, version="1", title_zh=f"{code} 目录", title_en=code)
    session.add(framework)
    session.flush()
    fixed: dict[str, Any] = {"framework_id": framework.id, "confidence": Confidence.probable}
    chapter = Requirement(
        **fixed, key="CH", clause="99", position=0, depth=0, title_zh="章", title_en="Chapter"
    )
    session.add(chapter)
    session.flush()
    session.add_all(
        Requirement(
            **fixed,
            chapter_id=chapter.id,
            key=f"CH.{n}",
            clause=number,
            position=n,
            depth=1,
            title_zh=zh,
            title_en=en,
        )
        for n, (number, zh, en) in enumerate(clauses, start=1)
    )
    session.flush()
    return framework


def _labels(session: Session, term: str, framework: Framework | None = None) -> list[str]:
    options, _more = clause_search.find(
        session=session, term=term, framework_id=framework.id if framework else None
    )
    return [option.label for option in options]


class TestFind:
    def test_by_number_prefix_in_catalogue_order(self, session: Session) -> None:
        tst = _catalogue(
            session,
            "TST",
            [
                ("9.10", "十", "Ten"),
                ("9.1", "一", "One"),
                ("9.2", "二", "Two"),
                ("19.1", "远", "Far"),
            ],
        )
        assert _labels(session, "9.1", tst) == ["TST 9.1 一", "TST 9.10 十"]

    def test_the_exact_number_first_in_every_catalogue(self, session: Session) -> None:
        tst = _catalogue(session, "TST", [("9.21", "二一", "Two one"), ("9.2", "二", "Two")])
        assert _labels(session, "9.2", tst) == ["TST 9.2 二", "TST 9.21 二一"]
        # Without a catalogue chosen, both 9.2s come before the longer numbers.
        both = _labels(session, "9.2")
        assert both[0].startswith("GBT23001 9.2 ")
        assert both[1:] == ["TST 9.2 二", "TST 9.21 二一"]

    def test_by_a_title_word_in_either_language_ignoring_case(self, session: Session) -> None:
        tst = _catalogue(
            session,
            "TST",
            [("1.1", "风险登记册", "Risk register"), ("1.2", "风险评估", "Risk assessment")],
        )
        assert _labels(session, "登记", tst) == ["TST 1.1 风险登记册"]
        assert _labels(session, "REGISTER", tst) == ["TST 1.1 风险登记册"]
        assert _labels(session, "风险", tst) == ["TST 1.1 风险登记册", "TST 1.2 风险评估"]

    def test_every_word_must_match_number_or_title(self, session: Session) -> None:
        tst = _catalogue(
            session,
            "TST",
            [("1.1", "风险登记册", "Risk register"), ("2.1", "风险评估", "Risk assessment")],
        )
        assert _labels(session, "risk 2.", tst) == ["TST 2.1 风险评估"]
        assert _labels(session, "risk audit", tst) == []

    def test_shown_in_the_current_language(self, session: Session) -> None:
        tst = _catalogue(session, "TST", [("1.1", "风险登记册", "Risk register")])
        with use_locale("en"):
            assert _labels(session, "风险", tst) == ["TST 1.1 Risk register"]

    def test_the_catalogue_filter_leaves_the_others_out(self, session: Session) -> None:
        tst = _catalogue(session, "TST", [("5.3", "职责", "Roles")])
        assert any(label.startswith("GBT23001 5.3 ") for label in _labels(session, "5.3"))
        assert _labels(session, "5.3", tst) == ["TST 5.3 职责"]

    def test_chapters_are_not_offered(self, session: Session) -> None:
        tst = _catalogue(session, "TST", [("99.1", "一", "One")])
        assert _labels(session, "99", tst) == ["TST 99.1 一"]

    def test_at_most_the_limit_with_a_flag_when_more_matched(self, session: Session) -> None:
        clauses = [(f"8.{n}", f"条款{n}", f"Clause {n}") for n in range(1, MATCH_LIMIT + 2)]
        tst = _catalogue(session, "TST", clauses)
        options, more = clause_search.find(session=session, term="8.", framework_id=tst.id)
        assert len(options) == MATCH_LIMIT
        assert more
        exactly = _catalogue(session, "TS2", clauses[:MATCH_LIMIT])
        options, more = clause_search.find(session=session, term="8.", framework_id=exactly.id)
        assert len(options) == MATCH_LIMIT
        assert not more

    def test_like_wildcards_are_taken_literally(self, session: Session) -> None:
        tst = _catalogue(
            session,
            "TST",
            [
                ("9.1", "覆盖率 100% 达标", "100% covered"),
                ("9.2", "覆盖率 1000 达标", "1000 covered"),
                ("9.3", "规则 a_b", "Rule a_b"),
                ("9.4", "规则 axb", "Rule axb"),
            ],
        )
        assert _labels(session, "100%", tst) == ["TST 9.1 覆盖率 100% 达标"]
        assert _labels(session, "a_b", tst) == ["TST 9.3 规则 a_b"]
        assert _labels(session, "%", tst) == ["TST 9.1 覆盖率 100% 达标"]
        assert _labels(session, "9_", tst) == []


class TestLabel:
    def test_the_catalogue_number_and_title(self, session: Session) -> None:
        tst = _catalogue(session, "TST", [("9.2", "二", "Two")])
        (option,), _more = clause_search.find(session=session, term="9.2", framework_id=tst.id)
        assert clause_search.label(session=session, requirement_id=option.id) == "TST 9.2 二"

    def test_none_for_an_id_that_names_no_clause(self, session: Session) -> None:
        assert clause_search.label(session=session, requirement_id=999_999) is None
