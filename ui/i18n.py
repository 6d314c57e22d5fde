"""Every word the page shows, in English and Simplified Chinese, in one catalog.

Component labels go to Gradio through :data:`i18n` (``gr.I18n``); sentences the handlers write (status
lines, notes, captions) through :func:`tr` in the visitor's language. A test walks the catalog and the
code and fails on a key without both languages.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from backends.errors import PlaygroundError

__all__ = ["CATALOG", "LANGUAGES", "language_from_header", "message_of", "render_notes", "text_in", "tr"]

LANGUAGES = ("en", "zh")

CATALOG: dict[str, tuple[str, str]] = {
    # -- page and tabs
    "title": ("Kolors Playground", "可图 Kolors 游乐场"),
    "tab_generate": ("Generate", "生成"),
    "tab_history": ("History", "历史"),
    "tab_compare": ("Compare", "对比"),
    "tab_settings": ("Settings", "设置"),
    "settings_button": ("⚙ API keys", "⚙ API 密钥"),
    "open_settings": ("⚙ Open Settings", "⚙ 打开设置"),
    # -- the form
    "prompt": ("Prompt", "提示词"),
    "prompt_placeholder": (
        "Describe the image, in English or Chinese. Drop an image here to read its settings.",
        "描述你想要的图像，中英文皆可。把图片拖到这里可读取它的参数。",
    ),
    "negative_prompt": ("Negative prompt", "负面提示词"),
    "negative_placeholder": ("What you do not want to see, e.g. blurry, low quality", "不希望出现的内容，例如：模糊、低质量"),
    "backend": ("Backend", "后端"),
    "size": ("Size", "尺寸"),
    "size_custom": ("Custom W×H…", "自定义 宽×高…"),
    "width": ("Width", "宽度"),
    "height": ("Height", "高度"),
    "n": ("Images", "张数"),
    "seed": ("Seed", "种子"),
    "steps": ("Steps", "步数"),
    "guidance": ("Guidance (CFG)", "引导强度（CFG)"),
    "scheduler": ("Sampler", "采样器"),
    "output_format": ("Format", "格式"),
    "output_quality": ("Quality", "质量"),
    "advanced": ("Advanced", "高级选项"),
    "generate": ("Generate", "生成"),
    "stop": ("Stop", "停止"),
    "undo": ("↩ Undo", "↩ 撤销"),
    "unavailable": ("unavailable", "不可用"),
    "copy_link": ("🔗 Copy link", "🔗 复制链接"),
    "link_copied": ("Link copied", "链接已复制"),
    "load_from_image": ("🖼 From an image", "🖼 从图片读取"),
    "dropped_image": ("Image", "图片"),
    "dropped_parameters": ("Its settings", "图片中的参数"),
    "drop_signal": ("Dropped file", "拖入的文件"),
    "dropped_too_large": (
        "This file is {size:.1f} MB; the playground reads the settings of images up to {limit} MB.",
        "这个文件有 {size:.1f} MB；只读取 {limit} MB 以内图片的参数。",
    ),
    "dropped_nothing": (
        "This image carries no settings the playground can read (no 'parameters' text in a PNG, no EXIF "
        "UserComment in a JPEG or WebP).",
        "这张图片里没有可读取的参数（PNG 中没有 parameters 文本，JPEG/WebP 中没有 EXIF UserComment）。",
    ),
    "use_settings": ("Use these settings", "使用这些参数"),
    "dismiss": ("Dismiss", "关闭"),
    "note_from_image": ("Settings from the image. The form as it was can be brought back with Undo.",
                        "已使用图片中的参数。可用“撤销”恢复之前的表单。"),
    "examples": ("Try an example", "试试这些例子"),
    "style": ("Style", "风格"),
    "style_none": ("— none —", "— 无 —"),
    "style_sent_as": ("{style} — sent as: {prompt}", "{style} —— 实际发送：{prompt}"),
    "style_negative": ("Negative prompt sent: {negative}", "实际发送的负面提示词：{negative}"),
    "note_style": ("The style's settings are in the form. Undo brings the form back.",
                   "已把该风格的参数填入表单。“撤销”可恢复之前的表单。"),
    "styles_editor": ("🎨 Your styles", "🎨 我的风格"),
    "style_yours": ("Edit one of yours, or write a new one", "编辑我的风格，或新建一个"),
    "style_new": ("— a new style —", "— 新风格 —"),
    "style_name": ("Name", "名称"),
    "style_template": ("Prompt template", "提示词模板"),
    "style_template_info": ("{prompt} stands for what you type; without it the template is added at the end.",
                            "{prompt} 代表你输入的提示词；模板里没有它时，模板会加在提示词末尾。"),
    "style_keep": ("Save with it, from the form", "从表单一并保存"),
    "style_keep_size": ("size", "尺寸"),
    "style_keep_steps": ("steps", "步数"),
    "style_keep_guidance": ("guidance", "引导强度"),
    "style_keep_scheduler": ("sampler", "采样器"),
    "style_save": ("💾 Save style", "💾 保存风格"),
    "style_saved": ("Saved “{style}”.", "已保存“{style}”。"),
    "style_deleted": ("Style deleted.", "风格已删除。"),
    "note_from_example": ("Example filled in — change anything, then Generate. Undo brings the form back.",
                          "已填入例子——可以修改任何参数，然后生成。“撤销”可恢复之前的表单。"),
    "note_from_link": ("Filled in from the link.", "已按链接填好表单。"),
    "note_from_history": ("Settings from the history. The form as it was can be brought back with Undo.",
                          "已使用历史记录中的参数。可用“撤销”恢复之前的表单。"),
    "note_undone": ("The form is back as it was.", "表单已恢复。"),
    "note_adjusted": ("Adjusted for this backend: {notes}", "已按此后端调整：{notes}"),
    "note_size": ("size {old} → {new} (not offered by this backend)", "尺寸 {old} → {new}（此后端不提供该尺寸）"),
    "note_images": ("images {old} → {new} (the most this backend makes at once)", "张数 {old} → {new}（此后端一次最多生成的张数）"),
    "note_scheduler": ("sampler {old} → {new}", "采样器 {old} → {new}"),
    "note_steps": ("steps {old} → {new} (allowed {low}–{high})", "步数 {old} → {new}（允许 {low}–{high})"),
    "note_guidance": ("guidance {old} → {new} (allowed {low}–{high})", "引导强度 {old} → {new}（允许 {low}–{high})"),
    "note_seed": ("seed {old} → random (this backend's seeds go up to {max})", "种子 {old} → 随机（此后端的种子最大为 {max})"),
    "no_backend_settings": ("Or paste a key in Settings (⚙ at the top of the page).",
                            "或在页面顶部的 ⚙ 设置中粘贴密钥。"),
    "download_confirm": ("⬇ Download and generate", "⬇ 下载并生成"),
    "download_operator": (
        "The Kolors weights are not on this server yet. Its operator can download them once by starting it with "
        "KOLORS_PRELOAD=1.",
        "服务器上还没有可图的权重。运营者可以用 KOLORS_PRELOAD=1 启动一次来下载它们。",
    ),
    "no_backend": (
        "No backend is configured yet. Set {keys} (or PLAYGROUND_BACKENDS) and restart, or paste a key in "
        "Settings (⚙ at the top of the page).",
        "还没有可用的后端。请设置 {keys}（或 PLAYGROUND_BACKENDS）后重启，或在页面顶部的 ⚙ 设置中粘贴密钥。",
    ),
    # -- results
    "gallery": ("Images", "图像"),
    "download_image": ("⬇ Image", "⬇ 下载图片"),
    "download_all": ("⬇ All (zip)", "⬇ 全部（zip)"),
    "info": ("Generation info", "生成信息"),
    "raw_json": ("Raw JSON", "原始 JSON"),
    "info_backend": ("Backend", "后端"),
    "info_when": ("When", "时间"),
    "info_id": ("Generation", "生成编号"),
    "selected_image": ("Image {index} · seed {seed} · {width}×{height}", "第 {index} 张 · 种子 {seed} · {width}×{height}"),
    "caption_seed": ("seed {seed}", "种子 {seed}"),
    "caption_in_progress": ("image {index}, in progress", "第 {index} 张，生成中"),
    "caption_failed": ("✗ seed {seed}: {reason}", "✗ 种子 {seed}:{reason}"),
    "tile_failed": ("Image {index} · seed {seed} failed", "第 {index} 张 · 种子 {seed} 失败"),
    "tile_stopped": ("Image {index} · seed {seed} not made", "第 {index} 张 · 种子 {seed} 未生成"),
    "tile_stopped_reason": ("Stopped before it was made.", "在生成前已停止。"),
    "status_generating": ("Generating", "生成中"),
    "status_k_of_n": ("{done} of {total} images ready", "已完成 {done}/{total} 张"),
    "status_step": ("step {done} of {total}", "第 {done}/{total} 步"),
    "status_done": ("{images} in {seconds} s", "{images}，用时 {seconds} 秒"),
    "status_partial": ("{kept} of {total} images in {seconds} s", "{total} 张中完成 {kept} 张，用时 {seconds} 秒"),
    "status_failed": ("No image came back (of {total})", "{total} 张全部失败"),
    "status_stopped": ("Stopped — {kept} of {total} images kept", "已停止 — 保留了 {total} 张中的 {kept} 张"),
    "status_seeds": ("seeds {seeds}", "种子 {seeds}"),
    "status_seed": ("seed {seeds}", "种子 {seeds}"),
    "status_credits": ("{credits} credits left", "剩余 {credits} 点数"),
    "status_failed_image": ("Image {index} (seed {seed}) failed: {reason}", "第 {index} 张（种子 {seed}）失败：{reason}"),
    # -- history
    "history_search": ("Search prompts", "搜索提示词"),
    "history_backend": ("Backend", "后端"),
    "history_outcome": ("Result", "结果"),
    "history_starred": ("Starred only", "只看收藏"),
    "history_gallery": ("History", "历史"),
    "history_count": ("{count} entries", "{count} 条记录"),
    "history_count_one": ("1 entry", "1 条记录"),
    "history_showing": ("showing {first}–{last}", "显示第 {first}–{last} 条"),
    "history_search_capped": (
        "only the first {terms} words (of up to {chars} characters each) are searched",
        "只搜索前 {terms} 个词（每个词最多 {chars} 个字符）",
    ),
    "history_images": ("{count} images", "{count} 张"),
    "history_one_image": ("1 image", "1 张"),
    "history_seed": ("seed {seed}", "种子 {seed}"),
    "outcome_all": ("All", "全部"),
    "outcome_ok": ("complete", "完成"),
    "outcome_partial": ("partly failed", "部分失败"),
    "outcome_failed": ("failed", "失败"),
    "outcome_stopped": ("stopped", "已停止"),
    "entry_images": ("Images of this generation", "本次生成的图像"),
    "entry_pick": ("Pick an entry to see all its images and settings. Looking changes nothing.",
                   "选择一条记录，查看它的全部图像和参数。查看不会改动任何东西。"),
    "entry_parameters": ("Parameters (A1111 format)", "参数（A1111 格式）"),
    "rerun": ("▶ Re-run", "▶ 重新生成"),
    "star": ("☆ Star", "☆ 收藏"),
    "starred": ("★ Starred", "★ 已收藏"),
    "delete": ("🗑 Delete", "🗑 删除"),
    "deleted_note": ("Entry deleted.", "记录已删除。"),
    "newer": ("← Newer", "← 较新"),
    "older": ("Older →", "较旧 →"),
    "refresh": ("⟳ Refresh", "⟳ 刷新"),
    "send_ab": ("⇄ A/B", "⇄ A/B"),
    # -- compare
    "compare_intro": (
        "Vary one or two settings and see the images side by side. Every cell is saved to the history and can be "
        "made again alone.",
        "改变一两个参数，把图像并排对比。每个格子都保存在历史中，可单独复现。",
    ),
    "compare_from_generate": ("↻ From the Generate tab", "↻ 取自“生成”页"),
    "compare_other_settings": ("Other settings from the Generate tab: {settings}", "其余参数取自“生成”页：{settings}"),
    "steps_n": ("steps {n}", "步数 {n}"),
    "guidance_n": ("guidance {n}", "引导 {n}"),
    "negative_short": ("negative: {text}", "负面：{text}"),
    "fill": ("📋 Fill", "📋 填入"),
    "compare_plan": ("{cells} cells ({cols} × {rows}) · cost {cost} · about {time} ({basis})",
                     "{cells} 个格子（{cols} × {rows}）· 费用 {cost} · 约 {time}（{basis}）"),
    "compare_learned": ("the median of this backend's last {runs} runs", "按此后端最近 {runs} 次的中位数"),
    "compare_guess": ("a guess: no runs of this backend yet", "估计值：此后端还没有运行记录"),
    "compare_free": ("free", "免费"),
    "compare_unknown_cost": ("{cells} cells of unknown price", "{cells} 个格子价格未知"),
    "compare_confirm_hint": ("tick the box below to run it", "勾选下面的框后才会运行"),
    "compare_needs_confirmation": ("This grid has {cells} cells. Tick the confirmation box to run it, or make an axis shorter.",
                                   "这个网格有 {cells} 个格子。请勾选确认框再运行，或缩短坐标轴。"),
    "compare_progress": ("{done} of {total} cells", "已完成 {done}/{total} 个格子"),
    "compare_done": ("{ok} of {total} cells in {seconds} s", "{total} 个格子中完成 {ok} 个，用时 {seconds} 秒"),
    "seconds": ("{n} s", "{n} 秒"),
    "minutes": ("{n} min", "{n} 分钟"),
    "example_short": ("Example:", "示例："),
    "x_axis": ("X axis", "X 轴"),
    "x_values": ("X values", "X 取值"),
    "y_axis": ("Y axis (optional)", "Y 轴（可选）"),
    "y_values": ("Y values", "Y 取值"),
    "no_axis": ("— none —", "— 无 —"),
    "confirm_large": ("Yes, run this large grid", "是的，运行这个大网格"),
    "run_grid": ("Run grid", "运行网格"),
    "grid": ("Grid (click a cell for its settings; two cells fill A/B)", "网格（点击格子查看参数；点两个放入 A/B）"),
    "ab": ("A / B", "A / B"),
    "ab_help": (
        "Click two cells, or press “A/B” on two history entries, to compare them with the slider.",
        "点击两个格子，或在两条历史记录上按“A/B”，用滑块对比它们。",
    ),
    "export": ("⬇ Grid PNG (axes and seeds in its metadata)", "⬇ 网格 PNG（元数据含坐标轴和种子）"),
    # -- settings
    "settings_info": (
        "Keys typed here are kept in this browser session only: never written to disk, history or logs.",
        "此处输入的密钥只保留在本次浏览器会话中：不会写入磁盘、历史或日志。",
    ),
    "key_placeholder": (
        "paste a key and press Enter: it is used in this session only", "粘贴密钥后按回车：仅在本次会话中使用",
    ),
    "key_kept": (
        "✓ A key is kept for this session (the box empties so the page never holds it).",
        "✓ 已为本次会话保存密钥（输入框会清空，页面不保留密钥）。",
    ),
    "key_forget": ("Forget", "忘记"),
}

def _labels(index: int) -> dict[str, str]:
    """The page's words in one language, with the Compare axes' titles from the error catalog (one source)."""
    from backends.messages import MESSAGES

    labels = {key: texts[index] for key, texts in CATALOG.items()}
    labels.update({key: texts[index] for key, texts in MESSAGES.items() if key.startswith("axis_title_")})
    return labels


def __getattr__(name: str) -> Any:
    """``i18n``, the labels as a ``gr.I18n``, made on first use: the plain functions of this module (and the
    tests of them) do not import gradio."""
    if name == "i18n":
        import gradio as gr

        globals()["i18n"] = gr.I18n(en=_labels(0), **{"zh-CN": _labels(1), "zh": _labels(1)})
        return globals()["i18n"]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def tr(key: str, lang: str = "en", **params: Any) -> str:
    """The sentence ``key`` in ``lang`` ("en" or "zh"), with ``params`` filled in."""
    english, chinese = CATALOG[key]
    text = chinese if lang == "zh" else english
    return text.format(**params) if params else text


_QUALITY = re.compile(r";\s*q=([0-9.]+)")


def language_from_header(accept_language: str) -> str:
    """"zh" when the browser prefers any Chinese over English (Accept-Language order and weights), else "en"."""
    best_weight, best = -1.0, "en"
    for position, part in enumerate(accept_language.split(",")):
        tag = part.split(";")[0].strip().lower()
        match = _QUALITY.search(part)
        weight = float(match.group(1)) if match else 1.0
        weight -= position * 1e-6  # earlier wins among equals
        language = "zh" if tag.startswith("zh") else ("en" if tag.startswith("en") else None)
        if language and weight > best_weight:
            best_weight, best = weight, language
    return best


def render_notes(notes: list[tuple[str, dict[str, Any]]], lang: str, *, quote: Callable[[str], str] | None = None) -> str:
    """The form's own adjustments as one line ("" when there are none); ``quote`` applied to the text values
    (a size or sampler that came from a link), for markup."""
    if not notes:
        return ""

    def quoted(params: dict[str, Any]) -> dict[str, Any]:
        return {k: quote(v) if quote is not None and isinstance(v, str) else v for k, v in params.items()}

    return "ℹ️ " + tr("note_adjusted", lang, notes="; ".join(tr(key, lang, **quoted(params)) for key, params in notes))


def text_in(value: object, lang: str) -> str:
    """A :class:`~backends.messages.Message` in ``lang``; anything else as its text (a provider's own words)."""
    render = getattr(value, "render", None)
    return render(lang) if callable(render) else str(value or "")


def message_of(error: Exception, lang: str) -> str:
    """What a person reads for an error raised below the UI, in ``lang``: the error's message rendered from
    the catalog in :mod:`backends.messages`; the text itself for an error that has no key (a plugin's).
    Plain text: for Markdown, :func:`ui.text_safety.literal_error` quotes what others supplied."""
    if isinstance(error, PlaygroundError):
        return error.message_in(lang)
    return str(error)
