"""Yearly self-assessment results, weak views and their links, the spreadsheet import."""

from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook
from sqlmodel import Session, func, select

from app.errors import Conflict, Invalid
from app.models.activity import ActivityEvent
from app.models.self_assessment import (
    AssessmentView,
    DevelopmentStage,
    SelfAssessment,
    SelfAssessmentCreate,
)
from app.services.self_assessments import excel, service
from tests.factories import ASSESSMENT_VIEWS, NOW, make_assessment, make_capability, make_goal


class TestYears:
    def test_one_result_a_year(self, session: Session) -> None:
        make_assessment(session, 2025)
        with pytest.raises(Conflict) as caught:
            make_assessment(session, 2025)
        assert caught.value.status_code == 409
        assert caught.value.field == "year"
        assert "2025" in caught.value.message

    def test_editing_cannot_take_another_year(self, session: Session) -> None:
        make_assessment(session, 2024)
        later = make_assessment(session, 2025)
        with pytest.raises(Conflict):
            service.update(
                session=session,
                now=NOW,
                actor_id=None,
                assessment=later,
                data=SelfAssessmentCreate(year=2024, overall_score=60),
            )
        service.update(
            session=session,
            now=NOW,
            actor_id=None,
            assessment=later,
            data=SelfAssessmentCreate(
                year=2025, overall_score=63, stage=DevelopmentStage.integration
            ),
        )
        assert later.overall_score == 63
        changes = session.exec(
            select(func.count()).where(
                ActivityEvent.object_type == "self_assessment", ActivityEvent.verb == "update"
            )
        ).one()
        assert changes == 1

    def test_latest_for_the_management_review(self, session: Session) -> None:
        assert service.latest(session=session) is None
        make_assessment(session, 2024, overall_score=55.2)
        make_assessment(session, 2025, stage=DevelopmentStage.integration)
        assert service.latest(session=session) == {
            "year": 2025,
            "overall": 61.8,
            "stage": "integration",
            "views": ASSESSMENT_VIEWS,
        }

    def test_weak_views_score_below_the_overall(self, session: Session) -> None:
        assessment = make_assessment(session)
        assert service.weak_views(assessment) == [
            AssessmentView.collaboration,
            AssessmentView.competitiveness,
            AssessmentView.integration,
            AssessmentView.benefits,
        ]
        assert service.weak_views(None) == []


class TestLinks:
    def test_link_and_unlink(self, session: Session) -> None:
        capability = make_capability(session, title="供应链协同能力")
        goal = make_goal(session, capability.id or 0)
        link = service.link(
            session=session,
            now=NOW,
            actor_id=None,
            view=AssessmentView.collaboration,
            capability_id=capability.id,
            goal_id=None,
        )
        service.link(
            session=session,
            now=NOW,
            actor_id=None,
            view=AssessmentView.collaboration,
            capability_id=None,
            goal_id=goal.id,
        )
        found = service.links(session=session)[AssessmentView.collaboration]
        assert [(r.title, r.url) for r in found] == [
            ("供应链协同能力", f"/capabilities/{capability.id}"),
            ("设备联网率", f"/goals/{goal.id}"),
        ]
        with pytest.raises(Conflict):
            service.link(
                session=session,
                now=NOW,
                actor_id=None,
                view=AssessmentView.collaboration,
                capability_id=capability.id,
                goal_id=None,
            )
        with pytest.raises(Invalid):
            service.link(
                session=session,
                now=NOW,
                actor_id=None,
                view=AssessmentView.benefits,
                capability_id=capability.id,
                goal_id=goal.id,
            )
        service.unlink(session=session, now=NOW, actor_id=None, link=link)
        assert len(service.links(session=session)[AssessmentView.collaboration]) == 1


def sheet(tmp_path: Path, *rows: list[Any]) -> Path:
    book = Workbook()
    ws = book.active
    assert ws is not None
    ws.append(excel.HEADERS)
    for row in rows:
        ws.append(row)
    path = tmp_path / "sa.xlsx"
    book.save(path)
    return path


class TestImport:
    def test_preview_reports_each_row_and_writes_nothing(
        self, session: Session, tmp_path: Path
    ) -> None:
        make_assessment(session, 2025)
        path = sheet(
            tmp_path,
            [2023, 48.5, "单项覆盖", 55, 50.2, 41.3, 38.6, 47.9, 45.1],
            [2024, 155, "集成提升", 60, 57, 49, 44, 53, 52],
            [2025, 61.8, "集成提升", 66, 64, 60, 50, 58, 61],
            [2022, "=A2*2", "单项覆盖", 1, 1, 1, 1, 1, 1],
            [2021, 40, "不存在的阶段", 1, 1, 1, 1, 1, 1],
            [2023, 50, "", None, None, None, None, None, None],
        )
        before = session.exec(select(func.count()).select_from(SelfAssessment)).one()
        rows = excel.read_rows(session=session, path=path)
        assert session.exec(select(func.count()).select_from(SelfAssessment)).one() == before
        assert [bool(r.errors) for r in rows] == [False, True, True, True, True, True]
        assert rows[0].data is not None
        assert rows[0].data.stage == DevelopmentStage.single
        assert "总分" in rows[1].errors[0]
        assert "2025" in rows[2].errors[0]
        assert "2023" in rows[5].errors[0]
        created = excel.import_rows(session=session, now=NOW, actor_id=None, rows=rows)
        assert created == 1
        assert service.by_year(session=session, year=2023) is not None

    def test_damaged_and_empty_files_are_refused(self, session: Session, tmp_path: Path) -> None:
        broken = tmp_path / "broken.xlsx"
        broken.write_bytes(b"PK\x03\x04 not really a workbook")
        with pytest.raises(Invalid) as caught:
            excel.read_rows(session=session, path=broken)
        assert caught.value.field == "file"
        with pytest.raises(Invalid):
            excel.read_rows(session=session, path=sheet(tmp_path))

    def test_too_many_rows(self, session: Session, tmp_path: Path) -> None:
        path = sheet(tmp_path, *[[2000 + (n % 100), 50] for n in range(excel.MAX_ROWS + 1)])
        with pytest.raises(Invalid) as caught:
            excel.read_rows(session=session, path=path)
        assert str(excel.MAX_ROWS) in caught.value.message

    def test_huge_and_non_finite_numbers_are_row_errors(
        self, session: Session, tmp_path: Path
    ) -> None:
        # A year of 5000 digits is beyond int()'s limit; inf and nan are no scores. (A cell
        # holding a float inf or nan is written empty by openpyxl and Excel alike.)
        path = sheet(
            tmp_path,
            ["9" * 5000, 50],
            [2023, "inf"],
            [2024, "nan"],
            [2025, 50, "", "-inf"],
        )
        rows = excel.read_rows(session=session, path=path)
        assert [bool(r.errors) for r in rows] == [True, True, True, True]
        assert "年度" in rows[0].errors[0]
        assert "总分" in rows[1].errors[0]
        assert excel.import_rows(session=session, now=NOW, actor_id=None, rows=rows) == 0
