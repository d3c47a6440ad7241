"""The executive dashboard shows goals by status, stages and untouched elements, with tables."""

from datetime import date

from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session

from app.models.user import Role
from app.services.strategy import goals as goal_service
from app.services.strategy.goals import Reading
from tests.factories import NOW, make_capability, make_goal, make_user, sign_in


def _dashboard_with_an_off_track_goal(
    client: TestClient, session: Session, capability_id: int, indicator: str
) -> Response:
    """Adds a goal measured far below its line (41 against a 40 → 80 target), then opens the
    dashboard as an executive."""
    off = make_goal(session, capability_id, indicator=indicator)
    goal_service.record(
        session=session, now=NOW, actor_id=None, goal=off, reading=Reading(date(2026, 10, 1), 41)
    )
    session.commit()
    sign_in(client, session, make_user(session, roles=[Role.executive]))
    page: Response = client.get("/dashboard")
    return page


def test_numbers_in_the_tables_match_the_data(client: TestClient, session: Session) -> None:
    capability = make_capability(session, title="供应链协同能力")
    make_goal(session, capability.id or 0, indicator="协同覆盖率")
    page = _dashboard_with_an_off_track_goal(client, session, capability.id or 0, "准时交付率")
    assert page.status_code == 200
    table = page.text.split('id="goal-status-table"')[1].split("</table>")[0]
    assert "偏离目标" in table or "Off track" in table
    counts = {
        cell.split("</span>")[0].rsplit(">", 1)[1]: cell.split('class="text-end">')[1].split("<")[0]
        for cell in table.split("<tr>")[1:]
    }
    assert counts["偏离目标"] == "1"
    assert counts["数据缺失"] == "1"
    assert counts["按计划推进"] == "0"
    decisions = page.text.split('id="decisions"')[1]
    assert "准时交付率" in decisions
    assert "协同覆盖率" in decisions  # no data yet
    assert "供应链协同能力" in decisions  # no element touched
    assert 'id="goal-status-data"' in page.text


def test_decisions_list_the_worst_ten_and_point_to_the_rest(
    client: TestClient, session: Session
) -> None:
    capability = make_capability(session, title="数据驱动的生产管控能力")
    for n in range(12):  # no data yet: missing data
        make_goal(session, capability.id or 0, indicator=f"缺数指标{n:02d}")
    page = _dashboard_with_an_off_track_goal(client, session, capability.id or 0, "偏离的指标")
    assert page.status_code == 200
    decisions = page.text.split('id="decisions"')[1].split("</ul>")[0]
    shown = [line for line in decisions.split("<li")[1:] if "/goals/" in line]
    assert len(shown) == 10
    assert "偏离的指标" in shown[0]  # off track comes before missing data
    more = decisions.split('id="more-decisions"')[1]
    assert "另有 3 个" in more
    assert 'href="/strategy"' in more
