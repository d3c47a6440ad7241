"""The board's owner filter offers the people who own a nonconformity, not every account: the
page stays the same size however many staff there are, and no choice shows an empty board by
construction."""

from fastapi.testclient import TestClient
from sqlmodel import Session

from app.models.user import Role
from tests.factories import HX, make_nc, make_user, sign_in


def _owner_filter(page: str) -> str:
    return page.split('id="f-owner"')[1].split("</select>")[0]


def test_the_owner_filter_offers_owners_of_nonconformities(
    client: TestClient, session: Session
) -> None:
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    owner = make_user(session, roles=[Role.owner], name="王责任")
    bystanders = [make_user(session, name=f"旁观者{n}") for n in range(30)]
    make_nc(session, owner)
    page = client.get("/nonconformities")
    assert page.status_code == 200
    offered = _owner_filter(page.text)
    assert "王责任" in offered
    assert not any(b.name in offered for b in bystanders)
    # Chosen by hand (an old bookmark), a person who owns nothing stays selected.
    chosen = client.get(f"/nonconformities?owner={bystanders[0].id}")
    assert f'value="{bystanders[0].id}" selected' in _owner_filter(chosen.text)
    assert "旁观者1<" not in _owner_filter(chosen.text)


def test_the_list_fragment_carries_no_filter(client: TestClient, session: Session) -> None:
    sign_in(client, session, make_user(session, roles=[Role.admin]))
    make_nc(session, make_user(session, roles=[Role.owner], name="李责任"))
    fragment = client.get("/nonconformities", headers={**HX, "HX-Target": "nc-list"})
    assert fragment.status_code == 200
    assert "李责任" in fragment.text
    assert 'id="f-owner"' not in fragment.text
