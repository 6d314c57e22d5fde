"""The playground as an MCP server (``PLAYGROUND_MCP=1`` or ``--mcp``): tools ``generate`` and ``compare`` over
streamable HTTP at ``/gradio_api/mcp``, built with the official ``mcp`` package.

Gradio's own ``mcp_server=True`` turns a gallery answer into the text of a Python list, server paths
included, and needs the ``gradio[mcp]`` extra, whose pydantic pin (<=2.12.5) this app's other
dependencies outgrow; a server of our own returns each image as MCP image content beside a JSON text of
URLs and the settings that reproduce it. Each tool call runs the Gradio endpoint of the same name
through :func:`ui.rest.call_endpoint` (a session of its own, the queue, the quota, every limit), so in
hosted mode an MCP caller is a visitor like any other. A caller's own provider key may come as the
``X-Provider-Key`` header.

This module has no ``from __future__ import annotations``: the tools' annotations carry their
descriptions and are read at run time.
"""

import base64
import contextlib
import json
import mimetypes
from pathlib import Path
from typing import Annotated, Any, Literal

from gradio_client.exceptions import AppError
from mcp.server.fastmcp import Context, FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ImageContent, TextContent
from pydantic import Field

from .api_params import ApiFacts, compare_description, generate_description, parameter_descriptions
from .rest import call_endpoint, public_answer

__all__ = ["MCP_PATH", "mcp_app_kwargs"]

MCP_PATH = "/gradio_api/mcp"
_IMAGE_BYTES_LIMIT = 8 * 1024 * 1024
"""Larger stored files are given by URL only (an MCP client holds the whole answer in memory)."""


def mcp_app_kwargs(facts: ApiFacts, *, local_only: bool) -> dict[str, Any]:
    """``routes`` and ``lifespan`` for the app's ``app_kwargs``. ``local_only`` (the app listens on a loopback
    address): only Host and Origin headers of this machine are served, against DNS rebinding."""
    security = (
        TransportSecuritySettings(
            enable_dns_rebinding_protection=True, allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
            allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
        )
        if local_only else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    )
    server = FastMCP(
        "Kolors Playground", instructions=generate_description(), streamable_http_path=MCP_PATH,
        stateless_http=True, transport_security=security, log_level="WARNING",
    )
    _add_tools(server, facts)
    app = server.streamable_http_app()

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        async with server.session_manager.run():
            yield

    return {"routes": list(app.routes), "lifespan": lifespan}


def _add_tools(server: FastMCP, facts: ApiFacts) -> None:
    d = parameter_descriptions(facts)
    Backend = Literal[tuple(bid for bid, _, _ in facts.backends)] if facts.backends else str

    @server.tool(name="generate", description=generate_description(), structured_output=False)
    async def generate(
        prompt: Annotated[str, Field(description=d["prompt"])],
        ctx: Context,
        backend: Annotated[Backend | None, Field(description=d["backend"])] = None,
        negative_prompt: Annotated[str | None, Field(description=d["negative_prompt"])] = None,
        size: Annotated[str | None, Field(description=d["size"])] = None,
        n: Annotated[int | None, Field(description=d["n"], ge=1)] = None,
        seed: Annotated[int | None, Field(description=d["seed"], ge=-1)] = None,
        steps: Annotated[int | None, Field(description=d["steps"])] = None,
        guidance: Annotated[float | None, Field(description=d["guidance"])] = None,
        scheduler: Annotated[str | None, Field(description=d["scheduler"])] = None,
        output_format: Annotated[str | None, Field(description=d["output_format"])] = None,
        output_quality: Annotated[int | None, Field(description=d["output_quality"])] = None,
        preset: Annotated[str | None, Field(description=d["preset"])] = None,
    ) -> list[ImageContent | TextContent]:
        fields = _given(locals())
        answer = await _run(ctx, "generate", fields)
        gallery = answer[0]
        return [*_images(item.get("image") for item in gallery), _text(public_answer("generate", answer))]

    @server.tool(name="compare", description=compare_description(), structured_output=False)
    async def compare(
        prompt: Annotated[str, Field(description=d["prompt"])],
        ctx: Context,
        x_type: Annotated[str, Field(description=d["x_type"])] = "seed",
        x_values: Annotated[str, Field(description=d["x_values"])] = "4",
        y_type: Annotated[str | None, Field(description=d["y_type"])] = None,
        y_values: Annotated[str | None, Field(description=d["y_values"])] = None,
        backend: Annotated[Backend | None, Field(description=d["backend"])] = None,
        negative_prompt: Annotated[str | None, Field(description=d["negative_prompt"])] = None,
        size: Annotated[str | None, Field(description=d["size"])] = None,
        seed: Annotated[int | None, Field(description=d["seed"], ge=-1)] = None,
        steps: Annotated[int | None, Field(description=d["steps"])] = None,
        guidance: Annotated[float | None, Field(description=d["guidance"])] = None,
        scheduler: Annotated[str | None, Field(description=d["scheduler"])] = None,
        output_format: Annotated[str | None, Field(description=d["output_format"])] = None,
        output_quality: Annotated[int | None, Field(description=d["output_quality"])] = None,
        confirm: Annotated[bool, Field(description=d["confirm"])] = False,
    ) -> list[ImageContent | TextContent]:
        fields = _given(locals())
        answer = await _run(ctx, "compare", fields)
        return [*_images([answer[0]]), _text(public_answer("compare", answer))]


def _given(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k != "ctx" and v is not None}


async def _run(ctx: Context, name: str, fields: dict[str, Any]) -> Any:
    request = ctx.request_context.request
    if request is None:
        raise ToolError("This tool is served over HTTP only.")
    try:
        return await call_endpoint(request, name, fields)
    except AppError as exc:
        raise ToolError(str(exc)) from None


def _images(files) -> list[ImageContent]:
    contents = []
    for file in files:
        path = Path(file["path"]) if isinstance(file, dict) and file.get("path") else None
        if path is None or not path.is_file() or path.stat().st_size > _IMAGE_BYTES_LIMIT:
            continue
        mime = mimetypes.guess_type(path.name)[0] or "image/png"
        contents.append(ImageContent(type="image", data=base64.b64encode(path.read_bytes()).decode("ascii"), mimeType=mime))
    return contents


def _text(answer: dict[str, Any]) -> TextContent:
    return TextContent(type="text", text=json.dumps(answer, ensure_ascii=False, indent=1))
