"""Independent verification remembers everyone who ever owned a nonconformity or did its work,
so handing it to someone else before verification does not make the former owner independent."""

import threading
import time

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session, col, select

from app.db import make_engine
from app.errors import Forbidden
from app.i18n import use_locale
from app.models.nonconformity import (
    ActionStatus,
    CorrectiveActionCreate,
    NcPart,
    NcParticipant,
    NcStatus,
    Nonconformity,
    NonconformityCreate,
    RootCauseMethod,
    Verdict,
    Verification,
)
from app.models.user import Role, User
from app.services.nonconformities import service as nc_service
from app.settings import Settings
from tests.factories import NOW, TODAY, add_action, make_nc, make_user


def _hand_over(session: Session, nc: Nonconformity, actor: User, successor: User) -> None:
    header = nc.model_dump(include=set(NonconformityCreate.model_fields))
    nc_service.update(
        session=session,
        now=NOW,
        actor_id=actor.id,
        nonconformity=nc,
        data=NonconformityCreate(**{**header, "owner_id": successor.id}),
    )


def _correction_and_root_cause(session: Session, nc: Nonconformity, actor: User) -> None:
    nc_service.record_correction(
        session=session,
        now=NOW,
        actor_id=actor.id,
        nonconformity=nc,
        correction="补做备份",
        done_on=TODAY,
    )
    nc_service.record_root_cause(
        session=session,
        now=NOW,
        actor_id=actor.id,
        nonconformity=nc,
        method=RootCauseMethod.five_whys,
        analysis="职责不清",
        effectiveness_check_date=None,
    )


def _successor_finishes(session: Session, nc: Nonconformity, successor: User) -> None:
    action = add_action(session, nc, successor)
    nc_service.set_action_status(
        session=session,
        now=NOW,
        actor_id=successor.id,
        nonconformity=nc,
        action=action,
        status=ActionStatus.done,
    )
    nc_service.request_verification(
        session=session, now=NOW, actor_id=successor.id, nonconformity=nc
    )
    session.commit()


def _verify(session: Session, nc: Nonconformity, person: User) -> Verification:
    return nc_service.verify(
        session=session,
        now=NOW,
        actor_id=person.id or 0,
        nonconformity=nc,
        verdict=Verdict.effective,
    )


class TestFormerOwner:
    def test_who_owned_it_and_wrote_its_analysis_may_not_verify_after_handing_it_over(
        self, session: Session
    ) -> None:
        former = make_user(session, roles=[Role.executive])
        successor = make_user(session, roles=[Role.owner])
        nc = make_nc(session, former)
        _correction_and_root_cause(session, nc, former)
        _hand_over(session, nc, former, successor)
        _successor_finishes(session, nc, successor)
        assert nc.owner_id == successor.id
        assert not nc_service.may_verify(session=session, nonconformity=nc, user_id=former.id or 0)
        with use_locale("zh_CN"), pytest.raises(Forbidden) as refused:
            _verify(session, nc, former)
        assert "参与" in refused.value.message
        assert nc.status == NcStatus.verification
        assert session.exec(select(Verification)).all() == []

    def test_an_owner_who_never_did_the_work_is_remembered_too(self, session: Session) -> None:
        first = make_user(session, roles=[Role.auditor, Role.owner])
        successor = make_user(session, roles=[Role.owner])
        nc = make_nc(session, first)
        _hand_over(session, nc, first, successor)
        _correction_and_root_cause(session, nc, successor)
        _successor_finishes(session, nc, successor)
        with pytest.raises(Forbidden):
            _verify(session, nc, first)
        assert nc.status == NcStatus.verification


class TestWhoDidTheWork:
    @pytest.mark.parametrize("step", ["correction", "root_cause", "start"])
    def test_an_overseer_who_did_a_step_for_the_owner_may_not_verify(
        self, session: Session, step: str
    ) -> None:
        owner = make_user(session, roles=[Role.owner])
        helper = make_user(session, roles=[Role.executive])
        nc = make_nc(session, owner)
        if step == "start":
            nc_service.start(session=session, now=NOW, actor_id=helper.id, nonconformity=nc)
        _correction_and_root_cause(session, nc, helper if step != "start" else owner)
        if step == "correction":
            nc_service.record_root_cause(
                session=session,
                now=NOW,
                actor_id=owner.id,
                nonconformity=nc,
                method=RootCauseMethod.other,
                analysis="重写",
                effectiveness_check_date=None,
            )
        elif step == "root_cause":
            nc_service.record_correction(
                session=session,
                now=NOW,
                actor_id=owner.id,
                nonconformity=nc,
                correction="重写",
                done_on=None,
            )
        _successor_finishes(session, nc, owner)
        with pytest.raises(Forbidden):
            _verify(session, nc, helper)

    def test_whoever_planned_an_action_may_not_verify(self, session: Session) -> None:
        owner = make_user(session, roles=[Role.owner])
        planner = make_user(session, roles=[Role.executive])
        nc = make_nc(session, owner)
        action = nc_service.add_action(
            session=session,
            now=NOW,
            actor_id=planner.id,
            nonconformity=nc,
            data=CorrectiveActionCreate(description="整改", owner_id=owner.id),
        )
        _correction_and_root_cause(session, nc, owner)
        nc_service.set_action_status(
            session=session,
            now=NOW,
            actor_id=owner.id,
            nonconformity=nc,
            action=action,
            status=ActionStatus.done,
        )
        nc_service.request_verification(
            session=session, now=NOW, actor_id=owner.id, nonconformity=nc
        )
        with pytest.raises(Forbidden):
            _verify(session, nc, planner)

    def test_the_auditor_who_raised_it_and_stayed_out_of_the_work_verifies(
        self, session: Session
    ) -> None:
        auditor = make_user(session, roles=[Role.auditor])
        owner = make_user(session, roles=[Role.owner])
        nc = nc_service.create(
            session=session,
            now=NOW,
            actor_id=auditor.id,
            data=NonconformityCreate(title="缺少评审记录", owner_id=owner.id),
        )
        _correction_and_root_cause(session, nc, owner)
        _successor_finishes(session, nc, owner)
        assert nc_service.may_verify(session=session, nonconformity=nc, user_id=auditor.id or 0)
        _verify(session, nc, auditor)
        assert nc.status == NcStatus.closed


class TestParticipants:
    def test_each_part_is_recorded_once_per_person(self, session: Session) -> None:
        former = make_user(session, roles=[Role.executive])
        successor = make_user(session, roles=[Role.owner])
        nc = make_nc(session, former)
        _correction_and_root_cause(session, nc, former)
        _correction_and_root_cause(session, nc, former)
        _hand_over(session, nc, former, successor)
        _successor_finishes(session, nc, successor)
        rows = session.exec(
            select(NcParticipant.user_id, NcParticipant.part)
            .where(NcParticipant.nonconformity_id == nc.id)
            .order_by(col(NcParticipant.user_id), col(NcParticipant.part))
        ).all()
        assert sorted(rows) == sorted(
            [
                (former.id, NcPart.owner),
                (former.id, NcPart.correction),
                (former.id, NcPart.root_cause),
                (successor.id, NcPart.owner),
                (successor.id, NcPart.action_owner),
                (successor.id, NcPart.actions),
                (successor.id, NcPart.verification_request),
            ]
        )


class TestRecordedTwiceAtOnce:
    """A double click sends the same step twice: two transactions record the same part of the
    same person at once, and the second must neither fail nor record it again."""

    def _root_cause_again(self, engine: Engine, nc_id: int, actor_id: int) -> Session:
        session = Session(engine)
        nc = session.get(Nonconformity, nc_id)
        assert nc is not None
        # The analysis as it stands: nothing changes, only the part taken is recorded.
        nc_service.record_root_cause(
            session=session,
            now=NOW,
            actor_id=actor_id,
            nonconformity=nc,
            method=nc.root_cause_method,
            analysis=nc.root_cause,
            effectiveness_check_date=nc.effectiveness_check_date,
        )
        return session

    def _wait_until_blocked(self, engine: Engine) -> None:
        if engine.dialect.name != "postgresql":
            time.sleep(0.3)  # SQLite queues the second writer at BEGIN IMMEDIATE
            return
        deadline = time.monotonic() + 10
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            while time.monotonic() < deadline:
                waiting: int = conn.execute(
                    text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'")
                ).scalar_one()
                if waiting:
                    return
                time.sleep(0.02)
        raise AssertionError("the second transaction never waited for the first")

    def test_the_second_of_two_concurrent_records_does_nothing(
        self,
        fresh_settings: Settings,
    ) -> None:
        engine = make_engine(fresh_settings)
        try:
            with Session(engine) as setup:
                author = make_user(setup, roles=[Role.owner])
                helper = make_user(setup, roles=[Role.executive])
                nc = make_nc(setup, author)
                _correction_and_root_cause(setup, nc, author)
                setup.commit()
                ids = (nc.id or 0, helper.id or 0)
            first = self._root_cause_again(engine, *ids)  # holds its insert, not committed
            errors: list[BaseException] = []

            def second() -> None:
                try:
                    with self._root_cause_again(engine, *ids) as session:
                        session.commit()
                except BaseException as error:
                    errors.append(error)

            thread = threading.Thread(target=second)
            thread.start()
            self._wait_until_blocked(engine)
            first.commit()
            first.close()
            thread.join(30)
            assert not thread.is_alive()
            assert errors == []
            with Session(engine) as check:
                parts = check.exec(
                    select(NcParticipant.part).where(
                        NcParticipant.nonconformity_id == ids[0], NcParticipant.user_id == ids[1]
                    )
                ).all()
            assert parts == [NcPart.root_cause]
        finally:
            engine.dispose()
