"""The requirement tree asks the database the same number of questions for a catalogue of 20
requirements as for one of 200: an N+1 in the tree, its roll-ups or a chapter's clauses fails
here before it slows the page."""

from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import Session, col, select

from app.models.evidence import EvidenceRequirement, EvidenceStatus
from app.models.requirement import Framework, Requirement
from app.services.requirements import framework as framework_service
from bench.catalogue import build
from tests.factories import HX, NOW, make_evidence, make_user, sign_in, statements_sent

# Sign-in and page chrome (session, roles, unread count, frameworks, departments, owners) plus
# the tree's own: chapters, implementation roll-up, coverage roll-up. A change here is a
# change in what the page costs: say why in review.
TREE_STATEMENTS = 12
OPEN_CHAPTER_STATEMENTS = TREE_STATEMENTS + 1  # the open chapter's clauses, one statement
SUBTREE_STATEMENTS = 7


def _catalogue(session: Session, size: int) -> Framework:
    """The synthetic catalogue of `size` requirements, with evidence on some of its clauses:
    current on every second, stale on every third."""
    framework_service.load(
        session=session,
        now=NOW,
        catalogue=framework_service.CatalogueFile.model_validate(build(size)),
    )
    framework = session.exec(select(Framework).where(Framework.code == f"SYN-{size}")).one()
    current = make_evidence(session, ())
    stale = make_evidence(session, (), approved_at=None, status=EvidenceStatus.in_review)
    clause_ids = session.exec(
        select(Requirement.id)
        .where(Requirement.framework_id == framework.id, col(Requirement.chapter_id).is_not(None))
        .order_by(col(Requirement.position))
    ).all()
    for n, requirement_id in enumerate(clause_ids):
        for evidence, every in ((current, 2), (stale, 3)):
            if n % every == 0:
                session.add(
                    EvidenceRequirement(
                        evidence_id=evidence.id or 0, requirement_id=requirement_id or 0
                    )
                )
    session.commit()
    return framework


def _biggest_chapter(session: Session, framework: Framework) -> Requirement:
    chapter_ids = session.exec(
        select(Requirement.chapter_id).where(
            Requirement.framework_id == framework.id, col(Requirement.chapter_id).is_not(None)
        )
    ).all()
    biggest = max(sorted(set(chapter_ids), key=lambda c: c or 0), key=chapter_ids.count)
    chapter = session.get(Requirement, biggest)
    assert chapter is not None
    return chapter


def _statements(client: TestClient, connection: Any, url: str, **headers: str) -> int:
    client.get(url, headers=headers)  # warm: the first request may load what later ones reuse
    with statements_sent(connection) as statements:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text[:300]
    return len(statements)


def test_the_tree_costs_the_same_for_20_and_200_requirements(
    client: TestClient, session: Session, connection: Any
) -> None:
    sign_in(client, session, make_user(session))
    counts: dict[int, tuple[int, int, int]] = {}
    for size in (20, 200):
        framework = _catalogue(session, size)
        chapter = _biggest_chapter(session, framework)
        tree = f"/requirements?framework={framework.id}"
        counts[size] = (
            _statements(client, connection, tree),
            _statements(client, connection, f"{tree}&open={chapter.id}"),
            _statements(
                client,
                connection,
                f"/requirements/{chapter.id}/subtree",
                **HX,
                **{"HX-Target": f"clauses-{chapter.id}"},
            ),
        )
    assert (
        counts[20]
        == counts[200]
        == (
            TREE_STATEMENTS,
            OPEN_CHAPTER_STATEMENTS,
            SUBTREE_STATEMENTS,
        )
    )


def test_the_page_carries_the_chapters_not_the_catalogue(
    client: TestClient, session: Session
) -> None:
    sign_in(client, session, make_user(session))
    framework = _catalogue(session, 200)
    chapter = session.exec(
        select(Requirement).where(
            Requirement.framework_id == framework.id, Requirement.key == "SYN.C01"
        )
    ).one()
    page = client.get(f"/requirements?framework={framework.id}").text
    assert page.count('<details class="chapter"') == 12
    assert page.count("<tr") == 0  # no clause row until a chapter is opened
    clauses = client.get(
        f"/requirements/{chapter.id}/subtree", headers={**HX, "HX-Target": f"clauses-{chapter.id}"}
    ).text
    # Chapter 1 of SYN-200: 8 sections of one item each; every second clause is covered, and
    # of the rest every third (the 4th, 10th and 16th) has only stale evidence.
    assert clauses.count('<tr id="clause-') == 16
    assert clauses.count('data-coverage="2"') == 8
    assert clauses.count('data-coverage="1"') == 3
