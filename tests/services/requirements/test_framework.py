"""Loading a catalogue: strict validation, idempotent upserts keyed by stable key."""

from pathlib import Path

import pytest
import yaml
from sqlmodel import Session, col, func, select

from app.cli import FRAMEWORKS_DIR
from app.models.requirement import Framework, Requirement, RequirementStatus
from app.services.requirements import framework as framework_service
from app.services.requirements.framework import CatalogueError
from tests.factories import NOW

GBT = FRAMEWORKS_DIR / "gbt23001-2017.yaml"

SMALL = {
    "framework": {
        "code": "ISO9001",
        "version": "2015",
        "title": {"zh_CN": "质量管理体系", "en": "QMS"},
    },
    "requirements": [
        {
            "key": "QMS.CONTEXT",
            "clause": "4",
            "title": {"zh_CN": "组织环境", "en": "Context of the organization"},
            "confidence": "verified",
            "children": [
                {
                    "key": "QMS.CONTEXT.ISSUES",
                    "clause": "4.1",
                    "title": {"zh_CN": "理解组织及其环境", "en": "Understanding the organization"},
                    "confidence": "verified",
                    "summary": {
                        "zh_CN": "确定内外部因素。",
                        "en": "Determine internal and external issues.",
                    },
                    "expected_evidence": {"zh_CN": ["环境分析"], "en": ["Context analysis"]},
                }
            ],
        }
    ],
}


def _write(tmp_path: Path, data: object, name: str = "fw.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def _count(session: Session, model: type) -> int:
    return session.exec(select(func.count()).select_from(model)).one()


class TestShippedCatalogue:
    def test_gbt23001_has_seven_chapters_and_38_clauses(self, session: Session) -> None:
        chapters = session.exec(
            select(Requirement).where(col(Requirement.chapter_id).is_(None))
        ).all()
        assert [c.clause for c in chapters] == ["4", "5", "6", "7", "8", "9", "10"]
        clauses = _count(session, Requirement) - len(chapters)
        assert clauses == 38
        assert _count(session, RequirementStatus) == 45

    def test_every_clause_has_bilingual_summary_and_evidence(self, session: Session) -> None:
        for r in session.exec(select(Requirement).where(col(Requirement.chapter_id).is_not(None))):
            assert r.summary_zh, r.key
            assert r.summary_en, r.key
            assert r.expected_evidence_zh, r.key
            assert len(r.expected_evidence_zh) == len(r.expected_evidence_en), r.key

    def test_second_load_changes_nothing(self, session: Session) -> None:
        report = framework_service.load(
            session=session, now=NOW, catalogue=framework_service.parse(GBT)
        )
        assert (report.created, report.updated, report.unchanged) == (0, 0, 45)


class TestLoad:
    def test_another_framework_loads_the_same_way(self, session: Session, tmp_path: Path) -> None:
        report = framework_service.load(
            session=session, now=NOW, catalogue=framework_service.parse(_write(tmp_path, SMALL))
        )
        assert report.created == 2
        clause = session.exec(
            select(Requirement).where(Requirement.key == "QMS.CONTEXT.ISSUES")
        ).one()
        assert clause.depth == 1
        assert clause.chapter_id == clause.parent_id

    def test_changed_title_updates_in_place(self, session: Session, tmp_path: Path) -> None:
        framework_service.load(
            session=session, now=NOW, catalogue=framework_service.parse(_write(tmp_path, SMALL))
        )
        before = session.exec(
            select(Requirement).where(Requirement.key == "QMS.CONTEXT.ISSUES")
        ).one()
        changed = yaml.safe_load(yaml.safe_dump(SMALL))
        changed["requirements"][0]["children"][0]["title"]["zh_CN"] = "理解组织及其所处环境"
        report = framework_service.load(
            session=session,
            now=NOW,
            catalogue=framework_service.parse(_write(tmp_path, changed, "b.yaml")),
        )
        assert (report.created, report.updated) == (0, 1)
        session.refresh(before)
        assert before.title_zh == "理解组织及其所处环境"
        assert (
            session.exec(
                select(func.count()).select_from(Framework).where(Framework.code == "ISO9001")
            ).one()
            == 1
        )


class TestMalformed:
    def test_missing_field_names_file_place_and_field(self, tmp_path: Path) -> None:
        bad = yaml.safe_load(yaml.safe_dump(SMALL))
        del bad["requirements"][0]["children"][0]["title"]["en"]
        path = _write(tmp_path, bad)
        with pytest.raises(CatalogueError) as caught:
            framework_service.parse(path)
        assert str(path) in caught.value.message
        assert "requirements[0].children[0].title.en" in caught.value.message

    def test_unknown_key_and_bad_confidence_are_refused(self, tmp_path: Path) -> None:
        bad = yaml.safe_load(yaml.safe_dump(SMALL))
        bad["requirements"][0]["colour"] = "red"
        bad["requirements"][0]["confidence"] = "sure"
        with pytest.raises(CatalogueError) as caught:
            framework_service.parse(_write(tmp_path, bad))
        assert "colour" in caught.value.message
        assert "confidence" in caught.value.message

    def test_duplicate_key_is_refused(self, tmp_path: Path) -> None:
        bad = yaml.safe_load(yaml.safe_dump(SMALL))
        bad["requirements"][0]["children"][0]["key"] = "QMS.CONTEXT"
        with pytest.raises(CatalogueError, match=r"duplicate key QMS\.CONTEXT"):
            framework_service.parse(_write(tmp_path, bad))

    def test_broken_yaml_names_the_line(self, tmp_path: Path) -> None:
        path = tmp_path / "broken.yaml"
        path.write_text("framework:\n  code: [unclosed\n", encoding="utf-8")
        with pytest.raises(CatalogueError, match="line"):
            framework_service.parse(path)
