"""Words for the large data set: names, titles and the small text files of evidence revisions."""

import random

DEPARTMENT_NAMES = [
    "总部",
    "生产制造中心",
    "技术研发中心",
    "质量管理中心",
    "供应链中心",
    "营销服务中心",
    "财务管理中心",
    "信息化中心",
    "机加工一车间",
    "机加工二车间",
    "装配一车间",
    "装配二车间",
    "热处理车间",
    "涂装车间",
    "设备动力部",
    "工艺技术部",
    "产品设计部",
    "试验检测部",
    "软件开发部",
    "数据治理部",
    "质量检验部",
    "体系管理部",
    "计量理化室",
    "采购部",
    "物流部",
    "仓储部",
    "计划调度部",
    "国内销售部",
    "海外销售部",
    "客户服务部",
    "售后服务部",
    "会计核算部",
    "成本管理部",
    "资金管理部",
    "网络运维部",
    "信息安全部",
    "应用系统部",
    "人力资源部",
    "安全环保部",
    "行政后勤部",
]

DOCUMENT_KINDS = [
    "管理制度",
    "作业指导书",
    "运行记录",
    "培训记录",
    "检查记录",
    "评审记录",
    "数据分析报告",
    "应急预案",
    "操作规程",
    "会议纪要",
]

# (indicator, unit)
INDICATORS = [
    ("设备联网率", "%"),
    ("数据采集自动化率", "%"),
    ("一次交检合格率", "%"),
    ("订单准时交付率", "%"),
    ("库存周转天数", "天"),
    ("单位产值能耗", "吨标煤/万元"),
    ("研发周期", "天"),
    ("客户投诉响应时间", "小时"),
    ("设备综合效率", "%"),
    ("工艺数字化覆盖率", "%"),
]

_FAMILY = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘"
_GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰萍建国志红海燕鹏飞宇"

_WORDS = [
    "inspection",
    "calibration",
    "training",
    "data",
    "process",
    "record",
    "review",
    "approved",
    "device",
    "network",
    "quality",
    "capability",
    "target",
    "measured",
    "plan",
]


def person_name(rng: random.Random) -> str:
    return rng.choice(_FAMILY) + "".join(rng.choice(_GIVEN) for _ in range(rng.randint(1, 2)))


def revision_text(reference: str, number: int, rng: random.Random) -> bytes:
    """About 200 bytes, unique per revision (so each is its own stored file)."""
    head = f"Ronghe benchmark evidence {reference} revision {number}\n"
    words = " ".join(rng.choice(_WORDS) for _ in range(24))
    return (head + words)[:200].encode("utf-8") + b"\n"
