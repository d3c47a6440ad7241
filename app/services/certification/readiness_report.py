"""The readiness report as an outline (print page, PDF, Word, and a part of the dossier):
the pre-application checklist, readiness per chapter, and every gap with where it is fixed."""

from datetime import date

from sqlmodel import Session

from app.actor import Actor
from app.i18n import gettext as _
from app.i18n import localized
from app.services.certification import readiness
from app.services.certification.readiness import Check
from app.services.documents import Report, Section, Table


def _passed(passed: bool) -> str:
    return _("Pass") if passed else _("Fail")


def report(*, session: Session, today: date, actor: Actor | None = None) -> Report:
    """Readiness on `today`: facts, the checklist, per-chapter numbers and the gap list.
    Without a actor (the dossier for the assessment body) every document is named."""
    state = readiness.assess(session=session, today=today)
    checks = readiness.checklist(session=session, today=today)
    if actor is not None:
        checks = readiness.for_actor(checks, actor)
    overall = state.overall
    catalogue = state.framework
    facts = [
        (_("Date"), today.isoformat()),
        (
            _("Requirements"),
            f"{localized(catalogue, 'title')} ({catalogue.code}-{catalogue.version})"
            if catalogue
            else "—",
        ),
        (_("Clauses ready"), f"{overall.ready} / {overall.total} ({overall.percent}%)"),
        (_("Excluded clauses"), str(overall.excluded)),
        (
            _("Pre-application checklist"),
            _(
                "%(passed)d of %(total)d conditions met",
                passed=sum(c.passed for c in checks),
                total=len(checks),
            ),
        ),
    ]
    checklist_table = Table(
        [_("Condition"), _("Result"), _("Found")],
        [
            [
                readiness.pre_check_label(c.check),
                _passed(c.passed),
                "；".join([c.summary, *(p.text for p in c.proofs)]),
            ]
            for c in checks
        ],
    )
    chapter_table = Table(
        [
            _("Chapter"),
            _("Clauses"),
            _("Clauses ready"),
            "%",
            *(readiness.check_label(check) for check in Check),
        ],
        [
            [
                f"{c.chapter.clause} {localized(c.chapter, 'title')}",
                str(c.rollup.total),
                str(c.rollup.ready),
                f"{c.rollup.percent}%",
                *(f"{c.rollup.passing(check)} / {c.rollup.total}" for check in Check),
            ]
            for c in state.chapters
        ],
    )
    gaps = state.gaps()
    gap_table = Table(
        [_("Clause"), _("Title"), _("Check not met"), _("Where to fix")],
        [
            [
                g.requirement.clause,
                localized(g.requirement, "title"),
                readiness.check_label(g.check),
                g.url,
            ]
            for g in gaps
        ],
    )
    return Report(
        title=_("Certification readiness"),
        facts=facts,
        sections=[
            Section(_("Pre-application checklist"), table=checklist_table),
            Section(
                _("Readiness by chapter"),
                [
                    _(
                        "A clause is ready when its applicability is decided, it has an owner "
                        "and current approved evidence, an internal audit covered it in the "
                        "last 12 months, and no major nonconformity against it is open. "
                        "Excluded clauses count as ready."
                    )
                ],
                table=chapter_table,
            ),
            Section(_("Gaps"), table=gap_table, empty=_("No gaps: every clause is ready.")),
        ],
        filename=f"readiness-{today.isoformat()}",
        back_url="/readiness",
    )
