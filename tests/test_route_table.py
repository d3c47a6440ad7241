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
from starlette.routing import compile_path

from app.main import create_app
from app.settings import Settings

TABLE = Path(__file__).with_name("route_table.txt")


def walk_routes(routes: Iterable[Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for route in routes:
        context = getattr(route, "include_context", None)
        if context is not None:  # FastAPI keeps an included router as one entry
            yield from walk_routes(context.included_router.routes, prefix + context.prefix)
        else:
            yield prefix, route


def route_table(app: FastAPI) -> list[str]:
    lines = []
    for prefix, route in walk_routes(app.router.routes):
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


def _sample(path: str) -> str:
    """A concrete path the route answers: every parameter filled with an id."""
    return re.sub(r"{[^}]+}", "7", path)


def test_no_two_routes_can_answer_the_same_request(settings: Settings) -> None:
    """So the order of routers and routes never decides which handler runs: `/evidence/import`
    can only ever be the import page, never `/evidence/{evidence_id}`."""
    routes = [
        (prefix + route.path, set(getattr(route, "methods", None) or ()) - {"HEAD"})
        for prefix, route in walk_routes(create_app(settings).router.routes)
        if hasattr(route, "endpoint")
    ]
    clashes = [
        (path, other)
        for path, methods in routes
        for other, other_methods in routes
        if other != path and methods & other_methods and compile_path(other)[0].match(_sample(path))
    ]
    assert clashes == []
    assert any(path == "/evidence/import" for path, _methods in routes)


def test_an_id_that_is_not_a_number_finds_no_route(settings: Settings) -> None:
    paths = {
        prefix + route.path for prefix, route in walk_routes(create_app(settings).router.routes)
    }
    with_ids = [path for path in paths if re.search(r"{\w+_id}", path)]
    assert with_ids == [], "every id in a path has the :int converter"


if __name__ == "__main__":
    print("\n".join(route_table(create_app())))
