"""Demo strategy line: one strategy, three advantages, six capabilities, fifteen goals with two
years of monthly values shaped so that every goal status appears, initiatives across the four
elements (some left untouched on purpose), and PDCA cycles. Values are placed relative to the
day the demo is loaded, so the statuses are as described on that day."""

import math
from collections.abc import Iterator
from datetime import date, datetime

from dateutil.relativedelta import relativedelta
from sqlmodel import Session, select

from app.models.capability import (
    Capability,
    CapabilityAdvantage,
    CapabilityRequirement,
    Grade,
    Stage,
    StageChange,
)
from app.models.goal import Direction, Goal, Measurement
from app.models.initiative import Element, Initiative, Task, TaskStatus
from app.models.pdca import PdcaCycle, Phase, PhaseChange
from app.models.requirement import Requirement
from app.models.strategy import CompetitiveAdvantage, Strategy, StrategyStatus
from app.services.strategy.goal_status import expected_share

STRATEGY_TITLE = "以数据驱动成为精密传动部件细分领域首选供应商"
ADVANTAGES = ["快速定制交付优势", "高一致性质量优势", "精益成本优势"]

# code, title, advantages (indexes), stage, grade now, target, requirement keys
CAPABILITIES = [
    (
        "RND",
        "产品研发数字化协同能力",
        [0],
        Stage.operating,
        Grade.CL2,
        Grade.CL3,
        ["IIMS.PLAN.CAPABILITY"],
    ),
    (
        "MES",
        "生产过程透明化管控能力",
        [0, 1],
        Stage.building,
        Grade.CL2,
        Grade.CL3,
        ["IIMS.OPS.TECH", "IIMS.OPS.PROCESS"],
    ),
    (
        "SCM",
        "供应链协同与精准采购能力",
        [0, 2],
        Stage.planned,
        Grade.CL1,
        Grade.CL3,
        ["IIMS.OPS.MATCH"],
    ),
    ("QMS", "质量全过程追溯能力", [1], Stage.building, Grade.CL2, Grade.CL3, ["IIMS.OPS.DATA"]),
    ("SVC", "客户服务快速响应能力", [0], Stage.identified, Grade.CL1, Grade.CL2, []),
    (
        "BI",
        "数据驱动的经营决策能力",
        [2],
        Stage.adjusting,
        Grade.CL2,
        Grade.CL4,
        ["IIMS.OPS.DATA", "IIMS.EVAL.MEASURE"],
    ),
]

# capability code, indicator, unit, direction, baseline, target, profile
GOALS = [
    ("RND", "新产品研发周期", "天", Direction.decrease, 180, 120, "on"),
    ("RND", "设计图纸三维化率", "%", Direction.increase, 35, 90, "done"),
    ("RND", "BOM 准确率", "%", Direction.increase, 92, 99.5, "risk"),
    ("MES", "关键设备联网率", "%", Direction.increase, 40, 95, "on"),
    ("MES", "订单准时交付率", "%", Direction.increase, 82, 96, "off"),
    ("MES", "在制品库存周转天数", "天", Direction.decrease, 24, 15, "risk"),
    ("SCM", "供应商协同平台覆盖率", "%", Direction.increase, 10, 80, "gap"),
    ("SCM", "采购成本降低率", "%", Direction.increase, 0, 6, "on"),
    ("QMS", "产品一次交检合格率", "%", Direction.increase, 96.2, 99.0, "done"),
    ("QMS", "质量问题追溯时间", "小时", Direction.decrease, 48, 4, "off"),
    ("SVC", "客户投诉 24 小时响应率", "%", Direction.increase, 70, 98, "none"),
    ("SVC", "服务工单一次解决率", "%", Direction.increase, 65, 90, "gap"),
    ("BI", "经营报表自动生成比例", "%", Direction.increase, 20, 85, "on"),
    ("BI", "月度经营分析出具天数", "天", Direction.decrease, 10, 3, "risk"),
    ("BI", "数据质量问题关闭率", "%", Direction.increase, 50, 95, "off"),
]

# capability code, initiative, tasks (title, element, status)
INITIATIVES = [
    (
        "RND",
        "PLM 系统深化应用项目",
        [
            ("统一物料编码与主数据标准", Element.data, TaskStatus.done),
            ("PLM 与 ERP 集成上线", Element.technology, TaskStatus.done),
            ("优化设计变更审批流程", Element.process, TaskStatus.in_progress),
            ("设立研发数字化专员岗位", Element.organization, TaskStatus.done),
        ],
    ),
    (
        "MES",
        "MES 一期实施方案",
        [
            ("关键设备数据采集改造", Element.technology, TaskStatus.in_progress),
            ("生产报工流程移动化", Element.process, TaskStatus.open),
            ("建立车间数据看板指标口径", Element.data, TaskStatus.open),
        ],
    ),
    (
        "SCM",
        "供应商协同平台建设",
        [
            ("梳理采购寻源与对账流程", Element.process, TaskStatus.open),
        ],
    ),
    (
        "QMS",
        "质量追溯体系建设",
        [
            ("批次条码赋码与采集规则", Element.data, TaskStatus.in_progress),
            ("质检数据接入 MES", Element.technology, TaskStatus.open),
            ("调整质量部与车间质检职责", Element.organization, TaskStatus.open),
        ],
    ),
    (
        "BI",
        "经营分析平台迭代",
        [
            ("指标体系与数据仓库建模", Element.data, TaskStatus.done),
            ("自助分析平台升级", Element.technology, TaskStatus.in_progress),
        ],
    ),
]

MONTHS = 24


def _share(profile: str, expected: float, n: int) -> float:
    wiggle = 0.01 * math.sin(n * 1.7)  # small, deterministic noise that never changes the status
    shares = {
        "on": expected + 0.06,
        "gap": expected + 0.06,
        "risk": expected - 0.05,
        "off": 0.45 * expected,
        "done": min(1.04, 1.8 * expected),
    }
    return shares[profile] + wiggle


def load_strategy_demo(
    *, session: Session, now: datetime, users: dict[str, int], departments: dict[str, int]
) -> Iterator[str]:
    """Create the demo strategy line once; a second run finds it and changes nothing."""
    if session.exec(select(Strategy).where(Strategy.title == STRATEGY_TITLE)).first() is not None:
        yield "demo strategy: already present"
        return
    today = now.date()
    admin, ceo, owner = (
        users["admin@demo.example.com"],
        users["ceo@demo.example.com"],
        users["owner@demo.example.com"],
    )
    strategy = Strategy(
        title=STRATEGY_TITLE,
        horizon="2024–2027",
        status=StrategyStatus.approved,
        description="围绕小批量、多品种、高精度订单，以数据贯通研发、生产、供应链与服务，缩短交付周期并稳定质量。",
        approved_by_id=ceo,
        approved_at=now,
        created_at=now,
    )
    session.add(strategy)
    session.flush()
    advantages = []
    for position, title in enumerate(ADVANTAGES, start=1):
        advantage = CompetitiveAdvantage(
            strategy_id=strategy.id or 0, title=title, position=position
        )
        session.add(advantage)
        advantages.append(advantage)
    session.flush()
    keys = {r.key: r.id for r in session.exec(select(Requirement))}
    capabilities: dict[str, Capability] = {}
    for code, title, adv, stage, grade, target, requirement_keys in CAPABILITIES:
        capability = Capability(
            code=code,
            title=title,
            stage=stage,
            current_grade=grade,
            target_grade=target,
            owner_id=owner if code in ("MES", "QMS") else admin,
            department_id=departments.get("IT"),
            created_at=now,
        )
        session.add(capability)
        session.flush()
        assert capability.id is not None
        capabilities[code] = capability
        for index in adv:
            session.add(
                CapabilityAdvantage(
                    capability_id=capability.id, advantage_id=advantages[index].id or 0
                )
            )
        for key in requirement_keys:
            if key in keys:
                session.add(
                    CapabilityRequirement(
                        capability_id=capability.id, requirement_id=keys[key] or 0
                    )
                )
        path = list(Stage)[: list(Stage).index(stage) + 1]
        for step, (before, after) in enumerate(zip([None, *path[:-1]], path, strict=True)):
            at = now - relativedelta(months=3 * (len(path) - step))
            session.add(
                StageChange(
                    capability_id=capability.id,
                    from_stage=before,
                    to_stage=after,
                    at=at,
                    by_id=admin,
                )
            )
    start = (today - relativedelta(months=MONTHS)).replace(day=1)
    deadline = (today + relativedelta(months=6)).replace(day=1) - relativedelta(days=1)
    count = 0
    for code, indicator, unit, direction, baseline, goal_target, profile in GOALS:
        goal = Goal(
            capability_id=capabilities[code].id or 0,
            indicator=indicator,
            unit=unit,
            direction=direction,
            baseline=baseline,
            baseline_date=start,
            target=goal_target,
            deadline=deadline,
            owner_id=owner if code in ("MES", "QMS") else admin,
            created_at=now,
        )
        session.add(goal)
        session.flush()
        months = 0 if profile == "none" else MONTHS - (3 if profile == "gap" else 0)
        for n in range(months):
            period = start + relativedelta(months=n)
            expected = expected_share(goal, period + relativedelta(months=1))
            value = baseline + (goal_target - baseline) * _share(profile, expected, n)
            session.add(
                Measurement(
                    goal_id=goal.id or 0,
                    period=period,
                    value=round(value, 2),
                    recorded_at=now,
                    recorded_by_id=owner,
                )
            )
            count += 1
    yield (
        f"demo strategy: 1 strategy, {len(ADVANTAGES)} advantages, {len(CAPABILITIES)} "
        f"capabilities, {len(GOALS)} goals, {count} measurements"
    )

    previous = PdcaCycle(
        period=str(today.year - 1),
        phase=Phase.closed,
        started_on=date(today.year - 1, 1, 1),
        closed_on=date(today.year - 1, 12, 31),
    )
    session.add(previous)
    session.flush()
    cycle = PdcaCycle(
        period=str(today.year),
        phase=Phase.do,
        started_on=date(today.year, 1, 1),
        previous_id=previous.id,
    )
    session.add(cycle)
    session.flush()
    for phase_from, phase_to, month in [(None, Phase.plan, 1), (Phase.plan, Phase.do, 4)]:
        session.add(
            PhaseChange(
                cycle_id=cycle.id or 0,
                from_phase=phase_from,
                to_phase=phase_to,
                at=datetime(today.year, month, 1, 1, 0, tzinfo=now.tzinfo),
                by_id=admin,
            )
        )
    for code, title, tasks in INITIATIVES:
        initiative = Initiative(
            capability_id=capabilities[code].id or 0, title=title, owner_id=owner, created_at=now
        )
        session.add(initiative)
        session.flush()
        for index, (task_title, element, status) in enumerate(tasks):
            carried = code == "MES" and index == 0  # one task came over from last year's cycle
            session.add(
                Task(
                    initiative_id=initiative.id or 0,
                    title=task_title,
                    element=element,
                    status=status,
                    owner_id=owner,
                    cycle_id=cycle.id,
                    carried_from_cycle_id=previous.id if carried else None,
                    due_date=today + relativedelta(months=index + 1),
                    created_at=now,
                )
            )
    yield f"demo PDCA: cycle {cycle.period} in phase Do; {len(INITIATIVES)} initiatives"
