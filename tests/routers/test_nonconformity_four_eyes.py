"""The four-eyes attack over HTTP: own a nonconformity, write its correction and root cause,
hand it to someone else through the header form, then try to verify and close it."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from app.models.nonconformity import CorrectiveAction, NcStatus, Nonconformity, Verification
from app.models.user import Role, User
from app.web.deps import get_now
from tests.factories import NOW, TODAY, fresh_nc, make_nc, make_user, post_nc, sign_in


@pytest.fixture(autouse=True)
def frozen_clock(app: FastAPI) -> None:
    app.dependency_overrides[get_now] = lambda: NOW


def _attack_up_to_verification(
    client: TestClient, session: Session, former: User, successor: User
) -> Nonconformity:
    nc = make_nc(session, former)
    sign_in(client, session, former)
    base = f"/nonconformities/{nc.id}"
    correction = post_nc(
        client, f"{base}/correction", correction="补做备份", correction_done_on=str(TODAY)
    )
    assert correction.status_code == 200
    root_cause = post_nc(
        client, f"{base}/root-cause", root_cause_method="five_whys", root_cause="漏检"
    )
    assert root_cause.status_code == 200
    handed = post_nc(client, base, htmx=False, title=nc.title, owner_id=str(successor.id))
    assert handed.status_code == 303
    sign_in(client, session, successor)
    assert post_nc(client, f"{base}/actions", description="改进备份流程").status_code == 200
    action = session.exec(
        select(CorrectiveAction).where(CorrectiveAction.nonconformity_id == nc.id)
    ).one()
    done = post_nc(client, f"/nonconformities/actions/{action.id}/status", status="done")
    assert done.status_code == 200
    assert post_nc(client, f"{base}/request-verification").status_code == 200
    assert fresh_nc(session, nc).status == NcStatus.verification
    sign_in(client, session, former)
    return nc


class TestFormerOwnerVerifies:
    def test_refused_in_chinese_as_a_toast_with_htmx(
        self, client: TestClient, session: Session
    ) -> None:
        former = make_user(session, roles=[Role.executive])  # zh_CN
        successor = make_user(session, roles=[Role.owner])
        nc = _attack_up_to_verification(client, session, former, successor)
        response = post_nc(client, f"/nonconformities/{nc.id}/verify", verdict="effective")
        assert response.status_code == 403
        assert response.headers["hx-reswap"] == "none"
        assert "参与" in response.text
        assert fresh_nc(session, nc).status == NcStatus.verification
        assert session.exec(select(Verification)).all() == []

    def test_refused_on_the_page_without_htmx(self, client: TestClient, session: Session) -> None:
        former = make_user(session, roles=[Role.executive])
        successor = make_user(session, roles=[Role.owner])
        nc = _attack_up_to_verification(client, session, former, successor)
        response = post_nc(
            client, f"/nonconformities/{nc.id}/verify", htmx=False, verdict="effective"
        )
        assert response.status_code == 403
        assert "<nav" in response.text
        assert "参与" in response.text
        assert fresh_nc(session, nc).status == NcStatus.verification
        assert session.exec(select(Verification)).all() == []

    def test_the_verify_form_is_not_offered(self, client: TestClient, session: Session) -> None:
        former = make_user(session, roles=[Role.executive])
        successor = make_user(session, roles=[Role.owner])
        nc = _attack_up_to_verification(client, session, former, successor)
        page = client.get(f"/nonconformities/{nc.id}").text
        assert f'action="/nonconformities/{nc.id}/verify"' not in page
        assert "须由其他人员验证" in page
        sign_in(client, session, make_user(session, roles=[Role.auditor]))
        page = client.get(f"/nonconformities/{nc.id}").text
        assert f'action="/nonconformities/{nc.id}/verify"' in page
        closed = post_nc(client, f"/nonconformities/{nc.id}/verify", verdict="effective")
        assert closed.status_code == 200
        assert fresh_nc(session, nc).status == NcStatus.closed
