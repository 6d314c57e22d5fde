"""ui/limits.py's RequestGuard in front of a small Starlette app: bodies over the limit get 413 (by
Content-Length and by counting a chunked body), uploads have their own limit and must say their length,
the deep-link route is gone and its query dropped, and /monitoring answers 404 in hosted mode only."""

from __future__ import annotations

import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from ui.limits import MULTIPART_OVERHEAD, RequestGuard


async def echo(request: Request) -> JSONResponse:
    body = await request.body()
    return JSONResponse({"bytes": len(body), "query": request.url.query, "path": request.url.path})


async def gone(request: Request) -> FileResponse:
    return FileResponse(request.app.state.removed)


def client(*, hosted: bool) -> TestClient:
    app = Starlette(routes=[Route("/{path:path}", echo, methods=["GET", "POST"])])
    return TestClient(RequestGuard(app, body_bytes=1000, upload_bytes=5000, hosted=hosted))


@pytest.fixture(params=[False, True], ids=["local", "hosted"])
def guarded(request) -> TestClient:
    return client(hosted=request.param)


def test_bodies_up_to_the_limit_pass_and_larger_ones_are_refused(guarded):
    assert guarded.post("/gradio_api/queue/join", content=b"x" * 1000).json()["bytes"] == 1000
    assert guarded.post("/gradio_api/queue/join", content=b"x" * 1001).status_code == 413
    chunks = iter([b"x" * 600, b"x" * 600])  # no Content-Length: counted as it arrives
    assert guarded.post("/gradio_api/run/predict", content=chunks).status_code == 413


def test_uploads_have_their_own_limit_and_say_their_length(guarded):
    assert guarded.post("/gradio_api/upload", content=b"x" * 4000).json()["bytes"] == 4000
    assert guarded.post("/gradio_api/upload", content=b"x" * (5000 + MULTIPART_OVERHEAD + 1)).status_code == 413
    assert guarded.post("/gradio_api/upload", content=iter([b"x" * 10])).status_code == 411


def test_the_deep_link_route_is_gone_and_its_query_dropped(guarded):
    assert guarded.get("/gradio_api/deep_link?session_hash=abc").status_code == 404
    assert guarded.get("/config?deep_link=abc&page=x").json()["query"] == "page=x"


def test_monitoring_is_off_in_hosted_mode_only():
    for path in ("/monitoring", "/monitoring/summary", "/monitoring/key/dashboard"):
        assert client(hosted=True).get(path).status_code == 404
        assert client(hosted=False).get(path).status_code == 200
    assert client(hosted=True).get("/monitoringx").status_code == 200


def test_a_file_removed_on_the_way_answers_404_not_a_traceback(tmp_path):
    picture = tmp_path / "tile.webp"
    routes = [Route("/gone", gone)]
    # As Gradio adds it: inside Starlette's own error middleware, which would answer 500 and log a traceback.
    guarded = Starlette(routes=routes, middleware=[Middleware(RequestGuard, body_bytes=1000, upload_bytes=5000)])
    bare = Starlette(routes=routes)
    for app in (guarded, bare):
        app.state.removed = str(picture)
    picture.write_bytes(b"RIFF")
    assert TestClient(guarded).get("/gone").status_code == 200
    picture.unlink()
    assert TestClient(bare, raise_server_exceptions=False).get("/gone").status_code == 500
    assert TestClient(guarded, raise_server_exceptions=True).get("/gone").status_code == 404


def test_a_path_with_a_nul_byte_is_refused(guarded):
    assert guarded.get("/gradio_api/proxy=/etc/passwd%00.png").status_code == 400
    assert guarded.get("/gradio_api/file=/tmp/x%00").status_code == 400
