"""List pages ask the database the same number of questions for 3 rows as for 30: an N+1 in a
register, a board or an API list fails here before it slows the page."""

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models.user import Role
from app.services.accounts import api_tokens
from tests.factories import (
    HX,
    NOW,
    add_action,
    clauses,
    make_audit,
    make_evidence,
    make_nc,
    make_user,
    sign_in,
    statements_sent,
)

KEYS = ("IIMS.SCA.GENERAL", "IIMS.SCA.CONTEXT", "IIMS.SCA.ADVANTAGE")


def _add_rows(session: Session, n: int) -> None:
    """n more of everything the lists show, each with its related rows (owner, clauses,
    corrective actions, audit scope), so that a query per row would show."""
    for _ in range(n):
        owner = make_user(session, roles=[Role.owner])
        make_evidence(session, KEYS, owner_id=owner.id)
        nc = make_nc(session, owner, requirement_key=KEYS[0])
        add_action(session, nc, owner)
        make_audit(session, requirements=clauses(session, 3))


def _count(client: TestClient, connection: Any, url: str, headers: dict[str, str]) -> int:
    client.get(url, headers=headers)  # warm: the first request may load what later ones reuse
    with statements_sent(connection) as statements:
        response = client.get(url, headers=headers)
    assert response.status_code == 200, response.text[:300]
    return len(statements)


# Statements per request, sign-in included (session, roles, unread count; an API call: its
# token). A change here is a change in what the page costs: say why in review.
STATEMENTS = {
    "/evidence": 9,
    "/evidence?q=记录": 8,
    # The page's action counts come in a query of their own (for its rows, not every
    # action), and the overdue-actions card counts what it does not list.
    "/nonconformities": 15,
    "/audits": 9,
    "/inbox": 7,
    "/api/v1/evidence": 5,
    "/api/v1/nonconformities": 6,
    "/api/v1/audits": 5,
}


@pytest.mark.parametrize("htmx", [False, True], ids=["page", "htmx"])
def test_list_pages_cost_the_same_for_3_and_30_rows(
    client: TestClient, session: Session, connection: Any, htmx: bool
) -> None:
    admin = make_user(session, roles=[Role.admin])
    sign_in(client, session, admin)
    _, secret = api_tokens.create(session=session, now=NOW, user_id=admin.id or 0, name="测试")
    session.commit()
    counts: dict[int, dict[str, int]] = {}
    shown = 0
    for total in (3, 30):
        _add_rows(session, total - shown)
        shown = total
        counts[total] = {}
        for url in STATEMENTS:
            if url.startswith("/api"):
                headers = {"Authorization": f"Bearer {secret}"}
            else:
                headers = dict(HX) if htmx else {}
            counts[total][url] = _count(client, connection, url, headers)
    assert counts[3] == counts[30] == STATEMENTS
