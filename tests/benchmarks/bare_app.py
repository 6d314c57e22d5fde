"""A bare Gradio app, launched exactly as ``python app.py`` is, for bench_playground's comparisons.

It has one async ``/echo`` endpoint that does nothing, so a call to it is Gradio's own round trip
(queue, SSE, client), and its start-up time and idle memory are Gradio's floor for an app.

    GRADIO_SERVER_PORT=7861 python tests/benchmarks/bare_app.py
"""

from __future__ import annotations

import os

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr


async def echo(text: str) -> str:
    return text


with gr.Blocks(title="bare", analytics_enabled=False) as demo:
    text = gr.Textbox(label="text")
    out = gr.Textbox(label="echo")
    text.submit(echo, inputs=text, outputs=out, api_name="echo")


if __name__ == "__main__":
    demo.launch()
