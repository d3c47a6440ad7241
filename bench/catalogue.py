"""A synthetic requirement catalogue of any size, for measuring the tree on a big framework.

    python -m bench.catalogue --requirements 1209 --out /tmp/syn.yaml
    ronghe seed --file /tmp/syn.yaml

The file has the format `ronghe seed --file` loads (app/services/requirements/framework.py):
up to twelve chapters, up to eight sections in each, and the remaining requirements spread as
items over the sections. Titles are built from a small vocabulary in our own words; the same
arguments always give the same file, and the framework code (`SYN-<n>`) keeps it apart from
real catalogues.
"""

import argparse
from pathlib import Path
from typing import Any

import yaml

CHAPTERS = 12
SECTIONS_PER_CHAPTER = 8

# (Chinese, English) pairs; a title is area + subject + action.
AREAS = [
    ("数据", "Data"),
    ("设备", "Equipment"),
    ("供应链", "Supply chain"),
    ("客户服务", "Customer service"),
    ("研发", "R&D"),
    ("生产", "Production"),
    ("质量", "Quality"),
    ("网络安全", "Cyber security"),
    ("财务", "Finance"),
    ("人力资源", "Human resources"),
    ("采购", "Purchasing"),
    ("营销", "Marketing"),
]
SUBJECTS = [
    ("职责", "responsibilities"),
    ("流程", "processes"),
    ("记录", "records"),
    ("指标", "indicators"),
    ("平台", "platforms"),
    ("接口", "interfaces"),
    ("风险", "risks"),
    ("资源", "resources"),
    ("变更", "changes"),
    ("知识", "knowledge"),
    ("培训", "training"),
]
ACTIONS = [
    ("规划", "planning"),
    ("评估", "assessment"),
    ("监控", "monitoring"),
    ("改进", "improvement"),
    ("审批", "approval"),
    ("归档", "archiving"),
    ("评审", "review"),
    ("授权", "authorisation"),
    ("备份", "backup"),
    ("沟通", "communication"),
    ("度量", "measurement"),
    ("应急", "contingency"),
]


def _title(place: tuple[int, ...]) -> dict[str, str]:
    """Chapter (c,), section (c, s) or item (c, s, i): each level adds a word to its parent's."""
    area_zh, area_en = AREAS[place[0] % len(AREAS)]
    if len(place) == 1:
        return {"zh_CN": f"{area_zh}管理", "en": f"{area_en} management"}
    subject_zh, subject_en = SUBJECTS[place[1] % len(SUBJECTS)]
    if len(place) == 2:
        return {"zh_CN": f"{area_zh}{subject_zh}", "en": f"{area_en} {subject_en}"}
    action_zh, action_en = ACTIONS[place[2] % len(ACTIONS)]
    return {
        "zh_CN": f"{area_zh}{subject_zh}{action_zh}",
        "en": f"{area_en} {subject_en}: {action_en}",
    }


def _confidence(index: int) -> str:
    # Most clauses verified; a few of each kind so the tree shows its ? and ~ marks.
    return "unverified" if index % 29 == 0 else "probable" if index % 17 == 0 else "verified"


def _node(place: tuple[int, ...], index: int) -> dict[str, Any]:
    title = _title(place)
    node: dict[str, Any] = {
        "key": "SYN." + ".".join(f"{p}{n + 1:02d}" for p, n in zip("CSI", place, strict=False)),
        "clause": ".".join(str(n + 1) for n in place),
        "title": title,
        "confidence": _confidence(index),
    }
    if len(place) > 1:
        node["summary"] = {
            "zh_CN": f"组织应明确{title['zh_CN']}的要求、责任人和记录方式，并定期检查其有效性。",
            "en": f"Set out the requirements, owner and records of “{title['en']}”, "
            "and check regularly that they work.",
        }
    if len(place) == 3:
        node["expected_evidence"] = {
            "zh_CN": [f"{title['zh_CN']}记录", f"{title['zh_CN']}评审纪要"],
            "en": [f"{title['en']} records", f"{title['en']} review minutes"],
        }
    return node


def _spread(total: int, buckets: int) -> list[int]:
    """`total` split over `buckets` as evenly as possible, the larger shares first."""
    return [total // buckets + (1 if i < total % buckets else 0) for i in range(buckets)]


def build(requirements: int) -> dict[str, Any]:
    """The catalogue as the YAML document's data: exactly `requirements` requirements."""
    if requirements < 1:
        raise ValueError("a catalogue needs at least one requirement")
    chapters = min(CHAPTERS, requirements)
    sections = min(requirements - chapters, chapters * SECTIONS_PER_CHAPTER)
    items = requirements - chapters - sections
    sections_of = _spread(sections, chapters)
    items_of = _spread(items, sections) if sections else []
    tree: list[dict[str, Any]] = []
    index = 0
    section_no = 0
    for c in range(chapters):
        chapter = _node((c,), index)
        index += 1
        chapter["children"] = []
        for s in range(sections_of[c]):
            section = _node((c, s), index)
            index += 1
            section["children"] = [_node((c, s, i), index + i) for i in range(items_of[section_no])]
            index += items_of[section_no]
            section_no += 1
            chapter["children"].append(section)
        tree.append(chapter)
    return {
        "framework": {
            "code": f"SYN-{requirements}",
            "version": "1",
            "title": {
                "zh_CN": f"合成测试目录（{requirements} 条要求）",
                "en": f"Synthetic test catalogue ({requirements} requirements)",
            },
            "description": {
                "zh_CN": "为性能测试生成的目录，条款内容无实际含义。",
                "en": "Generated for performance measurements; its clauses mean nothing.",
            },
        },
        "requirements": tree,
    }


def write(requirements: int, out: Path) -> None:
    text = yaml.safe_dump(build(requirements), allow_unicode=True, sort_keys=False, width=200)
    out.write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--requirements", type=int, default=1209, help="how many (default 1209)")
    parser.add_argument("--out", type=Path, required=True, help="the YAML file to write")
    args = parser.parse_args(argv)
    if args.requirements < 1:
        parser.error("--requirements must be at least 1")
    write(args.requirements, args.out)
    print(f"{args.out}: SYN-{args.requirements}-1, {args.requirements} requirements")


if __name__ == "__main__":
    main()
