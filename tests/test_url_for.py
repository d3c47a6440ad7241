"""Templates link with url_for, whose paths are worked out once per route: every named route
with id parameters gives the same path as Starlette's own lookup, for any id."""

from typing import Any

from fastapi import FastAPI
from starlette.routing import Mount, compile_path

from app.web.rendering import env
from tests.test_route_table import walk_routes


def _url_for(app: FastAPI, name: str, **params: Any) -> str:
    request = type("Request", (), {"app": app})()
    template = env.from_string("{{ url_for(name, **params) }}")
    return template.render(request=request, name=name, params=params)


def test_every_route_gives_the_path_starlette_gives(app: FastAPI) -> None:
    checked = 0
    for prefix, route in walk_routes(app.router.routes):
        if isinstance(route, Mount):
            continue
        _regex, _format, convertors = compile_path(prefix + route.path)
        name = route.name
        if any(type(c).__name__ != "IntegerConvertor" for c in convertors.values()):
            continue
        for ids in (1, 42, 987_654):
            params = {param: ids + n for n, param in enumerate(sorted(convertors))}
            expected = str(app.url_path_for(name, **params))
            assert _url_for(app, name, **params) == expected
            assert _url_for(app, name, **params) == expected  # and again, from the cache
        checked += 1
    assert checked > 100


def test_a_text_parameter_takes_the_long_way(app: FastAPI) -> None:
    assert _url_for(app, "static", path="css/app.css") == "/static/css/app.css"
