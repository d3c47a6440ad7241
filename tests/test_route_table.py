"""The app's route table is written down: a route added, removed or renamed shows in review.

Paths are compared without their converters (`{evidence_id:int}` reads `{evidence_id}`), so the
table says what users can reach; `tests/route_table.txt` is regenerated with
`python -m tests.test_route_table > tests/route_table.txt`.
"""

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings

TABLE = Path(__file__).with_name("route_table.txt")


def _walk(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        context = getattr(route, "include_context", None)
        if context is not None:  # FastAPI keeps an included router as one entry
            yield from _walk(context.included_router.routes, prefix + context.prefix)
        else:
            yield prefix, route


def route_table(app: FastAPI) -> list[str]:
    lines = []
    for prefix, route in _walk(app.router.routes):
        path = re.sub(r":\w+}", "}", prefix + route.path)
        methods = ",".join(sorted(set(getattr(route, "methods", None) or ()) - {"HEAD"})) or "-"
        lines.append(f"{methods:<7} {path:<70} {route.name}")
    return sorted(lines)


def test_the_route_table_is_the_one_written_down(settings: Settings) -> None:
    assert route_table(create_app(settings)) == TABLE.read_text(encoding="utf-8").splitlines()


def test_every_route_has_its_own_name(settings: Settings) -> None:
    names = [line.split()[-1] for line in route_table(create_app(settings))]
    assert len(names) == len(set(names))
    assert "evidence.detail" in names
    assert "evidence_excel.import_page" in names


if __name__ == "__main__":
    print("\n".join(route_table(create_app())))
