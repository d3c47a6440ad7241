"""The strategy map page, strategies and advantages."""

import json

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, func, select

from app.models.capability import CapabilityAdvantage
from app.models.goal import GoalStatus
from app.models.strategy import CompetitiveAdvantage, Strategy, StrategyStatus
from app.models.user import Role
from app.web import charts
from tests.factories import HX, csrf, make_capability, make_goal, make_user, sign_in


def _strategy(client: TestClient, title: str = "数字化转型战略", **headers: str) -> Response:
    response: Response = client.post(
        "/strategy",
        data={"title": title, "horizon": "2026–2028", "csrf_token": csrf(client)},
        headers=headers,
    )
    return response


class TestStrategy:
    def test_executive_creates_and_approves(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.executive]))
        assert _strategy(client).status_code == 303
        strategy = session.exec(select(Strategy)).one()
        assert (strategy.status, strategy.approved_by_id) == (StrategyStatus.draft, None)
        response = client.post(
            f"/strategy/{strategy.id}/approve", data={"csrf_token": csrf(client)}, headers=HX
        )
        assert response.status_code == 204
        session.refresh(strategy)
        assert strategy.status == StrategyStatus.approved
        again = client.post(f"/strategy/{strategy.id}/approve", data={"csrf_token": csrf(client)})
        assert again.status_code == 409

    def test_missing_title_is_shown_next_to_the_field(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        for headers in ({}, HX):
            response = _strategy(client, "", **headers)
            assert response.status_code == 422
            assert 'id="title-error"' in response.text
        assert session.exec(select(func.count()).select_from(Strategy)).one() == 0

    def test_map_page_has_chart_data_and_table(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        _strategy(client)
        strategy = session.exec(select(Strategy)).one()
        client.post(
            f"/strategy/{strategy.id}/advantages",
            data={"title": "快速交付优势", "csrf_token": csrf(client)},
        )
        page = client.get("/strategy")
        assert page.status_code == 200
        assert 'id="strategy-map-data"' in page.text
        assert "快速交付优势" in page.text.split('id="strategy-map-table"')[1]
        assert "echarts-6.1.0.min.js" in page.text


class TestAdvantages:
    def test_advantage_served_by_a_capability_cannot_be_deleted(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        _strategy(client)
        strategy = session.exec(select(Strategy)).one()
        client.post(
            f"/strategy/{strategy.id}/advantages",
            data={"title": "质量优势", "csrf_token": csrf(client)},
        )
        advantage = session.exec(select(CompetitiveAdvantage)).one()
        capability = make_capability(session)
        session.add(
            CapabilityAdvantage(capability_id=capability.id or 0, advantage_id=advantage.id or 0)
        )
        session.commit()
        response = client.post(
            f"/strategy/advantages/{advantage.id}/delete", data={"csrf_token": csrf(client)}
        )
        assert response.status_code == 409
        assert "1" in response.text
        assert "有 1 项新型能力支撑该优势" in response.text
        assert session.get(CompetitiveAdvantage, advantage.id) is not None

    def test_unknown_strategy_is_404(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        response = client.post(
            "/strategy/9999/advantages", data={"title": "x", "csrf_token": csrf(client)}
        )
        assert response.status_code == 404

    def test_viewer_sees_the_map_without_forms(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session, roles=[Role.viewer]))
        page = client.get("/strategy")
        assert page.status_code == 200
        assert 'action="/strategy"' not in page.text


def test_editing_an_approved_strategy_sends_it_back_to_draft(
    client: TestClient, session: Session
) -> None:
    sign_in(client, session, make_user(session, roles=[Role.executive]))
    _strategy(client)
    strategy = session.exec(select(Strategy)).one()
    client.post(f"/strategy/{strategy.id}/approve", data={"csrf_token": csrf(client)})
    response = client.post(
        f"/strategy/{strategy.id}", data={"title": "新战略表述", "csrf_token": csrf(client)}
    )
    assert response.status_code == 303
    session.refresh(strategy)
    assert (strategy.title, strategy.status) == ("新战略表述", StrategyStatus.draft)
    too_long = client.post(
        f"/strategy/{strategy.id}", data={"title": "长" * 201, "csrf_token": csrf(client)}
    )
    assert too_long.status_code == 422
    assert 'id="title-error"' in too_long.text


def _map_with_goals(client: TestClient, session: Session, goals: int) -> tuple[int, int]:
    """A strategy with one advantage served by one capability with `goals` goals."""
    _strategy(client)
    strategy = session.exec(select(Strategy)).one()
    client.post(
        f"/strategy/{strategy.id}/advantages",
        data={"title": "快速交付优势", "csrf_token": csrf(client)},
    )
    advantage = session.exec(select(CompetitiveAdvantage)).one()
    capability = make_capability(session, title="订单交付能力")
    session.add(
        CapabilityAdvantage(capability_id=capability.id or 0, advantage_id=advantage.id or 0)
    )
    session.commit()
    for n in range(goals):
        make_goal(session, capability.id or 0, indicator=f"准时交付率{n}")
    return advantage.id or 0, capability.id or 0


class TestMapTable:
    def test_table_counts_goals_and_opens_them_on_demand(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        advantage_id, capability_id = _map_with_goals(client, session, goals=3)
        page = client.get("/strategy")
        table = page.text.split('id="strategy-map-table"')[1].split("</table>")[0]
        assert "订单交付能力" in table
        assert "显示 3 个目标" in table
        assert f'id="strategy-goals-{advantage_id}-{capability_id}"' in table
        assert f'hx-get="/strategy/capabilities/{capability_id}/goals"' in table
        # The goals themselves are not drawn until asked for.
        assert "准时交付率0" not in table
        assert "数据缺失 3" in table

    def test_capability_goals_as_page_and_as_fragment(
        self, client: TestClient, session: Session
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        advantage_id, capability_id = _map_with_goals(client, session, goals=2)
        sign_in(client, session, make_user(session, roles=[Role.viewer]))
        url = f"/strategy/capabilities/{capability_id}/goals"
        page = client.get(url)
        assert page.status_code == 200
        assert "<html" in page.text
        assert 'href="/strategy"' in page.text
        assert "准时交付率0" in page.text
        assert "准时交付率1" in page.text
        region = f"strategy-goals-{advantage_id}-{capability_id}"
        fragment = client.get(url, headers={**HX, "HX-Target": region})
        assert fragment.status_code == 200
        assert "HX-Request" in fragment.headers["Vary"]
        assert fragment.text.lstrip().startswith('<ul class="list-unstyled')
        assert "<html" not in fragment.text
        assert "准时交付率1" in fragment.text
        assert "数据缺失" in fragment.text
        # An htmx request for a region the map does not have gets the whole page.
        other = client.get(url, headers={**HX, "HX-Target": "strategy-goals-999-1"})
        assert "<html" in other.text

    def test_unknown_capability_is_404(self, client: TestClient, session: Session) -> None:
        sign_in(client, session, make_user(session))
        assert client.get("/strategy/capabilities/99999/goals").status_code == 404

    def test_map_leaves_out_goals_beyond_the_limit(
        self, client: TestClient, session: Session, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        sign_in(client, session, make_user(session, roles=[Role.admin]))
        _map_with_goals(client, session, goals=3)
        drawn = client.get("/strategy").text
        assert '"url": "/goals/' in drawn
        assert 'id="strategy-map-goals-left-out"' not in drawn
        monkeypatch.setattr(charts, "MAP_GOAL_LIMIT", 2)
        page = client.get("/strategy").text
        option = json.loads(page.split('id="strategy-map-data">')[1].split("</script>")[0])
        nodes = option["series"][0]["data"]
        assert [n for n in nodes if n["id"].startswith("g")] == []
        capability = next(n for n in nodes if n["id"].startswith("c"))
        assert capability["itemStyle"]["color"] == charts.STATUS_COLOURS[GoalStatus.missing_data]
        assert 'id="strategy-map-goals-left-out"' in page
