"""The evidence register's clause and owner filters: found by typing, never listed in full.

The register stays the same size however many clauses and people there are; the pickers find a
clause by number or title word and a person by name or e-mail address, with and without htmx;
the filter in force is shown with its label; old bookmarks (`?requirement=<id>`,
`?owner=<id>`) still filter.
"""

from urllib.parse import quote

from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models.evidence import Evidence, EvidenceRequirement, EvidenceStatus
from app.models.requirement import Confidence, Framework, Requirement
from app.models.user import Role, User
from app.services.search_terms import MATCH_LIMIT
from tests.factories import HX, NOW, first_clause, make_user, sign_in


def _catalogue(session: Session, size: int, *, code: str = "BIG", start: int = 1) -> Framework:
    """A second catalogue (or more clauses in it): chapter 9 with `size` clauses 9.<n>, titled
    "深层条款 <n>" / "Deep control <n>"."""
    framework = session.exec(select(Framework).where(Framework.code == code)).first()
    if framework is None:
        framework = Framework(code=code, version="1", title_zh="大目录", title_en="Big catalogue")
        session.add(framework)
        session.flush()
    chapter = session.exec(
        select(Requirement).where(Requirement.framework_id == framework.id, Requirement.key == "C9")
    ).first()
    if chapter is None:
        chapter = _requirement(framework, "C9", "9", 0, None, "第九章", "Chapter nine")
        session.add(chapter)
        session.flush()
    session.add_all(
        _requirement(
            framework, f"C9.{n}", f"9.{n}", n, chapter.id, f"深层条款 {n}", f"Deep control {n}"
        )
        for n in range(start, start + size)
    )
    session.commit()
    return framework


def _requirement(
    framework: Framework,
    key: str,
    number: str,
    position: int,
    chapter_id: int | None,
    title_zh: str,
    title_en: str,
) -> Requirement:
    return Requirement(
        framework_id=framework.id or 0,
        chapter_id=chapter_id,
        key=key,
        clause=number,
        position=position,
        depth=0 if chapter_id is None else 1,
        title_zh=title_zh,
        title_en=title_en,
        confidence=Confidence.probable,
    )


def _deep(session: Session, n: int, code: str = "BIG") -> Requirement:
    return session.exec(
        select(Requirement)
        .join(Framework)
        .where(Framework.code == code, Requirement.clause == f"9.{n}")
    ).one()


def _evidence(
    session: Session, title: str, requirement: Requirement, owner_id: int | None = None
) -> Evidence:
    evidence = Evidence(
        title=title,
        status=EvidenceStatus.approved,
        owner_id=owner_id,
        created_at=NOW,
        updated_at=NOW,
    )
    session.add(evidence)
    session.flush()
    session.add(
        EvidenceRequirement(evidence_id=evidence.id or 0, requirement_id=requirement.id or 0)
    )
    session.commit()
    return evidence


def _listed(page: str) -> str:
    return page.split('id="evidence-table"')[1]


def _admin(client: TestClient, session: Session) -> User:
    admin = make_user(session, roles=[Role.admin], name="审核员甲")
    sign_in(client, session, admin)
    return admin


class TestRegisterSize:
    def test_more_clauses_and_people_do_not_make_the_page_bigger(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        _catalogue(session, 20)
        small = client.get("/evidence?size=10")
        _catalogue(session, 400, start=21)
        for n in range(60):
            make_user(session, name=f"同事{n:02d}")
        big = client.get("/evidence?size=10")
        assert small.status_code == big.status_code == 200
        assert abs(len(big.content) - len(small.content)) < 40  # the CSRF token may vary
        assert "深层条款" not in big.text
        assert "同事" not in big.text
        assert big.text.count("<option") == small.text.count("<option")

    def test_the_selected_clause_is_the_one_named_with_its_label(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        _catalogue(session, 300)
        deep = _deep(session, 250)
        page = client.get(f"/evidence?requirement={deep.id}&status=approved")
        assert page.status_code == 200
        assert "BIG 9.250 深层条款 250" in page.text
        assert "深层条款 249" not in page.text
        # Changing another filter keeps it; the link beside it clears it and keeps the others.
        assert f'<input type="hidden" name="requirement" value="{deep.id}">' in page.text
        assert 'href="/evidence?status=approved" title="移除筛选条件：要求条款"' in page.text


class TestFiltering:
    def test_a_clause_bookmark_lists_its_evidence_only(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        _catalogue(session, 30)
        _evidence(session, "深层证据", _deep(session, 30))
        _evidence(session, "浅层证据", first_clause(session))
        listed = _listed(client.get(f"/evidence?requirement={_deep(session, 30).id}").text)
        assert "深层证据" in listed
        assert "浅层证据" not in listed

    def test_an_owner_bookmark_lists_their_evidence_with_their_name(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        owner = make_user(session, name="赵文档")
        _evidence(session, "赵的记录", first_clause(session), owner_id=owner.id)
        _evidence(session, "别人的记录", first_clause(session))
        page = client.get(f"/evidence?owner={owner.id}").text
        assert "赵的记录" in _listed(page)
        assert "别人的记录" not in _listed(page)
        assert '<span class="text-secondary">责任人</span> <strong>赵文档</strong>' in page

    def test_the_list_fragment_shows_the_filters_in_force_with_fresh_links(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        clause = first_clause(session)
        fragment = client.get(
            f"/evidence?requirement={clause.id}&kind=record",
            headers={**HX, "HX-Target": "evidence-list"},
        )
        assert fragment.text.lstrip().startswith('<div id="evidence-list">')
        assert f"GBT23001 {clause.clause} {clause.title_zh}" in fragment.text
        assert 'href="/evidence?kind=record"' in fragment.text

    def test_an_id_that_names_nothing_says_so_and_lists_nothing(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        _evidence(session, "浅层证据", first_clause(session))
        page = client.get("/evidence?requirement=999999")
        assert page.status_code == 200
        assert "未找到（#999999）" in page.text
        assert "浅层证据" not in _listed(page.text)

    def test_a_malformed_id_is_a_422_in_the_users_language(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        for url in ("/evidence?requirement=7.2", "/evidence?owner=abc"):
            response = client.get(url)
            assert response.status_code == 422
            assert "请从给定选项中选择一项。" in response.text


class TestRequirementOptions:
    URL = "/evidence/requirement-options"

    def test_by_number_exact_first_keeping_the_other_filters(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        big = _catalogue(session, 30)
        response = client.get(
            f"{self.URL}?find=9.2&status=approved&kind=record",
            headers={**HX, "HX-Target": "requirement-options"},
        )
        assert response.status_code == 200
        assert response.text.lstrip().startswith('<div id="requirement-options"')
        assert "<html" not in response.text
        links = response.text.split("<a ")[1:]
        # Both catalogues have a 9.2: each exact number first, then 9.20 … 9.29.
        assert [">GBT23001 9.2 " in links[0], ">BIG 9.2 深层条款 2<" in links[1]] == [True, True]
        assert ">BIG 9.20 " in links[2]
        kept = f"/evidence?status=approved&amp;kind=record&amp;requirement={_deep(session, 2).id}"
        assert f'href="{kept}"' in links[1]
        one = client.get(
            f"{self.URL}?find=9.2&framework={big.id}",
            headers={**HX, "HX-Target": "requirement-options"},
        ).text
        assert one.count("<a ") == 11
        assert "GBT23001" not in one

    def test_by_a_word_of_the_title_in_either_language(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        _catalogue(session, 30)
        for word in ("深层条款 17", "DEEP control 17", "control 17"):
            text = client.get(
                f"{self.URL}?find={quote(word)}", headers={**HX, "HX-Target": "requirement-options"}
            ).text
            assert "BIG 9.17 深层条款 17" in text, word
            assert "9.16" not in text

    def test_at_most_a_bounded_number_with_a_note_to_narrow(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        _catalogue(session, 300)
        text = client.get(
            f"{self.URL}?find={quote('深层')}", headers={**HX, "HX-Target": "requirement-options"}
        ).text
        assert text.count("<a ") == MATCH_LIMIT
        assert f"仅显示前 {MATCH_LIMIT} 项匹配结果" in text

    def test_without_htmx_a_page_of_links_that_apply_the_filter(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        _catalogue(session, 30)
        owner = make_user(session)
        page = client.get(f"{self.URL}?find=9.3&owner={owner.id}")
        assert page.status_code == 200
        assert "<h1" in page.text
        assert "按要求条款筛选" in page.text
        deep = _deep(session, 3)
        assert f'href="/evidence?owner={owner.id}&amp;requirement={deep.id}"' in page.text
        # The search box again, carrying the owner filter for the next search.
        assert 'name="find" value="9.3"' in page.text
        assert f'<input type="hidden" name="owner" value="{owner.id}">' in page.text
        # An htmx request for a region the page does not have gets the whole page.
        other = client.get(f"{self.URL}?find=9.3", headers={**HX, "HX-Target": "elsewhere"})
        assert "<h1" in other.text

    def test_nothing_typed_or_nothing_found_is_a_hint_not_an_error(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        for headers in ({}, {**HX, "HX-Target": "requirement-options"}):
            empty = client.get(f"{self.URL}?find=+", headers=headers)
            assert empty.status_code == 200
            assert "请输入条款号（如 5.3）或标题中的词。" in empty.text
            none = client.get(f"{self.URL}?find={quote('%_<b>')}", headers=headers)
            assert none.status_code == 200
            assert "没有与“%_&lt;b&gt;”匹配的结果。" in none.text
            assert "<b>" not in none.text

    def test_bad_input_is_a_4xx_in_the_users_language(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        missing = client.get(f"{self.URL}?find=9&framework=999999", headers=HX)
        assert missing.status_code == 404
        assert missing.text == "没有这个要求条款目录。"
        assert client.get(f"{self.URL}?find=9&framework=abc").status_code == 422
        assert client.get(f"{self.URL}?find=9&status=lost").status_code == 422

    def test_signed_in_users_only(self, client: TestClient, session: Session) -> None:
        response = client.get(f"{self.URL}?find=5")
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login")
        assert client.get(f"{self.URL}?find=5", headers=HX).status_code == 401
        sign_in(client, session, make_user(session, roles=[Role.viewer]))
        assert client.get(f"{self.URL}?find=5").status_code == 200


class TestOwnerOptions:
    URL = "/evidence/owner-options"

    def test_by_name_or_address_those_who_left_last(
        self, client: TestClient, session: Session
    ) -> None:
        _admin(client, session)
        left = make_user(session, name="钱多多", email="qian.left@example.com", is_active=False)
        here = make_user(session, name="钱少少", email="qian.here@example.com")
        for headers in ({**HX, "HX-Target": "owner-options"}, {}):
            text = client.get(f"{self.URL}?find={quote('钱')}&kind=record", headers=headers).text
            assert text.index("钱少少") < text.index("钱多多")
            assert "已停用" in text.split("钱多多")[1]
            assert f'href="/evidence?kind=record&amp;owner={here.id}"' in text
            assert f'href="/evidence?kind=record&amp;owner={left.id}"' in text
        by_address = client.get(f"{self.URL}?find=QIAN.HERE", headers=HX).text
        assert "钱少少" in by_address
        assert "钱多多" not in by_address

    def test_nothing_typed_is_a_hint(self, client: TestClient, session: Session) -> None:
        _admin(client, session)
        for headers in ({}, {**HX, "HX-Target": "owner-options"}):
            response = client.get(self.URL, headers=headers)
            assert response.status_code == 200
            assert "请输入姓名或电子邮箱的一部分。" in response.text
