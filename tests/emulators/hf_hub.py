"""A Hugging Face Hub on 127.0.0.1 serving model repos from folders, for download tests without the network.

It answers the two routes huggingface_hub uses to fetch a model file by file:

    GET  /api/models/{org}/{name}/revision/{revision}   model info; with ?blobs=true each file's size
    HEAD /{org}/{name}/resolve/{revision}/{path}        X-Repo-Commit, ETag and Content-Length of a file
    GET  /{org}/{name}/resolve/{revision}/{path}        the file's bytes

Every revision resolves to one commit per repo (a hash of its files). ``chunk_delay_s`` slows each chunk
of a file's body down, so a test can press Stop in the middle of a download. ``requests`` logs
"METHOD path" for each request.

    with FakeHub({"kolors-test/tiny-kolors": folder}).running() as hub:
        ... HF_ENDPOINT=hub.base_url ...
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .server import EmulatorServer

__all__ = ["FakeHub"]


class FakeHub:
    def __init__(self, repos: dict[str, Path], *, chunk_size: int = 64 * 1024, chunk_delay_s: float = 0.0) -> None:
        self.repos = {repo_id: Path(folder) for repo_id, folder in repos.items()}
        self.chunk_size = chunk_size
        self.chunk_delay_s = chunk_delay_s
        self.requests: list[str] = []
        self.base_url = ""
        self.app = Starlette(
            routes=[
                Route("/api/models/{org}/{name}/revision/{revision}", self._model_info, methods=["GET"]),
                Route("/{org}/{name}/resolve/{revision}/{path:path}", self._resolve, methods=["GET", "HEAD"]),
            ]
        )

    @contextmanager
    def running(self) -> Iterator[FakeHub]:
        with EmulatorServer(self.app) as server:
            self.base_url = server.base_url
            yield self

    def files(self, repo_id: str) -> dict[str, Path]:
        folder = self.repos[repo_id]
        return {p.relative_to(folder).as_posix(): p for p in sorted(folder.rglob("*")) if p.is_file()}

    def commit(self, repo_id: str) -> str:
        digest = hashlib.sha1()
        for path, file in self.files(repo_id).items():
            digest.update(path.encode() + b"\0" + hashlib.sha256(file.read_bytes()).digest())
        return digest.hexdigest()

    def downloads(self, suffix: str = "") -> list[str]:
        """Paths fetched with GET (not HEAD) so far, ending with ``suffix``."""
        return [r.split("/resolve/", 1)[1].split("/", 1)[1] for r in self.requests
                if r.startswith("GET ") and "/resolve/" in r and r.endswith(suffix)]

    async def _model_info(self, request: Request) -> Response:
        repo_id = f"{request.path_params['org']}/{request.path_params['name']}"
        self.requests.append(f"GET {request.url.path}")
        if repo_id not in self.repos:
            return JSONResponse({"error": "Repository not found"}, status_code=404,
                                headers={"X-Error-Code": "RepoNotFound"})
        with_sizes = request.query_params.get("blobs", "").lower() == "true"
        siblings = [
            {"rfilename": path, **({"size": file.stat().st_size} if with_sizes else {})}
            for path, file in self.files(repo_id).items()
        ]
        return JSONResponse({"id": repo_id, "modelId": repo_id, "sha": self.commit(repo_id), "siblings": siblings,
                             "private": False, "tags": []})

    async def _resolve(self, request: Request) -> Response:
        repo_id = f"{request.path_params['org']}/{request.path_params['name']}"
        path = request.path_params["path"]
        self.requests.append(f"{request.method} {request.url.path}")
        if repo_id not in self.repos:
            return Response(status_code=404, headers={"X-Error-Code": "RepoNotFound"})
        commit = self.commit(repo_id)
        file = self.files(repo_id).get(path)
        if file is None:
            return Response(status_code=404, headers={"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit})
        data = file.read_bytes()
        headers = {
            "X-Repo-Commit": commit,
            "ETag": f'"{hashlib.sha256(data).hexdigest()}"',
            "Content-Length": str(len(data)),
            "Accept-Ranges": "bytes",
        }
        if request.method == "HEAD":
            return Response(status_code=200, headers=headers)
        return StreamingResponse(self._chunks(data), headers=headers, media_type="application/octet-stream")

    async def _chunks(self, data: bytes) -> AsyncIterator[bytes]:
        for start in range(0, len(data), self.chunk_size):
            if self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
            yield data[start : start + self.chunk_size]
