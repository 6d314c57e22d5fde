"""The error messages below the UI in both languages: the catalog is whole, every raise uses it, and the
errors a person meets on the page (a bad value, a provider refusing, a quota, a model too big for the
memory, a mistyped axis, a failed image kept in the history) read fully in Chinese and, unchanged, in English."""

from __future__ import annotations

import ast
import asyncio
import html
import re
import string
from pathlib import Path

import pytest

from backends.base import Availability, GenerationRequest, ImageFailure
from backends.compare.axes import AXIS_KINDS, AxisKind, parse_axis
from backends.errors import (
    AuthenticationFailed,
    FieldProblem,
    GenerationCancelled,
    InvalidRequest,
    PlaygroundError,
    ProviderServerError,
    ProviderTimeout,
    QuotaExceeded,
    RateLimited,
)
from backends.history import HistoryStore
from backends.messages import LANGUAGES, MESSAGES, Message, render, text_in
from backends.playground import Playground
from backends.providers.local.device import DeviceInfo
from backends.providers.local.memory import FreeMemory, check_memory, estimate_footprint
from backends.providers.local.sizes import GIB
from backends.providers.segmind import SEGMIND_CAPABILITIES, segmind_from_settings
from backends.quota import HourlyQuota
from backends.registry import Registry
from backends.settings import PlaygroundSettings
from backends.validation import validate_request
from tests.conftest import make_backend
from ui.i18n import message_of
from ui.results import RunView, outcome_line

ROOT = Path(__file__).resolve().parent.parent
CJK = re.compile(r"[\u4e00-\u9fff]")

# English words a Chinese sentence may keep: names of products, formats, commands and settings.
TECHNICAL_WORDS = {
    "Apple", "Euler", "Face", "Hub", "Hugging", "Segmind", "Spaces", "UNet", "WebP", "ZeroGPU",
    "a", "auth", "auto", "backend", "base", "blue", "c", "cat", "cpu", "cuda", "data", "dieyuyun", "diffusers",
    "dog", "download", "fox", "grid", "guidance", "height", "hf", "http", "id", "image", "import", "install",
    "launch", "local", "login", "model", "mps", "n", "pip", "preset", "print", "prompt", "python", "r", "red", "round", "s",
    "scheduler", "seed", "siliconflow", "size", "steps", "torch", "true", "uid", "url", "width", "worker", "x",
    "xinference",
}


def english_words(text: str) -> list[str]:
    """The words of ``text`` that are English rather than names: not all capitals (HTTP, KOLORS_DEVICE), not
    code-like (b64_json, model_index.json, 1024x1024), not in :data:`TECHNICAL_WORDS`."""
    words = re.findall(r"[A-Za-z][A-Za-z0-9_.\-/+]*", text)
    return [
        word for word in words
        if not re.fullmatch(r"[A-Z][A-Z0-9_]*", word)
        and not re.search(r"[0-9_./\-+]", word)
        and word not in TECHNICAL_WORDS
    ]


def assert_chinese(text: str, *names: str) -> None:
    """``text`` is Chinese through and through: it has Chinese in it, and once the ``names`` (provider names,
    what a provider said, paths) are taken out, no English word is left."""
    assert CJK.search(text), text
    for name in names:
        text = text.replace(name, "")
    assert english_words(text) == [], text


def placeholders(template: str) -> list[tuple[str, str, str]]:
    return sorted((name, conversion or "", spec) for _, name, spec, conversion in string.Formatter().parse(template) if name is not None)


# -- the catalog ------------------------------------------------------------------------------------


def test_every_message_has_both_languages_and_the_same_placeholders():
    for key, texts in MESSAGES.items():
        assert len(texts) == len(LANGUAGES) and all(text.strip() for text in texts), key
        english, chinese = texts
        assert placeholders(english) == placeholders(chinese), key


def test_chinese_messages_are_chinese_with_full_width_punctuation():
    for key, (english, chinese) in MESSAGES.items():
        text = re.sub(r"\{[^{}]*\}", "", chinese)
        assert english_words(text) == [], (key, chinese)
        if re.search(r"[a-z]{2,}", re.sub(r"\{[^{}]*\}", "", english)) and english != chinese:
            assert CJK.search(chinese), (key, chinese)
        # No half-width punctuation next to Chinese: "，" not ",", "（" not "(", "。" not ".".
        assert not re.search(r"[\u4e00-\u9fff][,;:!?(]|[,;:(][\u4e00-\u9fff]|[\u4e00-\u9fff]\.(\s|$)", text), (key, chinese)


def test_every_key_the_code_uses_is_in_the_catalog_and_every_message_is_used():
    used: set[str] = set()
    mentioned: set[str] = set()
    for path in [*ROOT.glob("backends/**/*.py"), *ROOT.glob("ui/*.py")]:
        if path.name == "messages.py":
            continue
        text = path.read_text(encoding="utf-8")
        used |= set(re.findall(r"\bMessage\(\s*\"([a-z0-9_]+)\"", text))
        mentioned |= set(re.findall(r"\"([a-z0-9_]+)\"", text))
    assert used - set(MESSAGES) == set()
    used |= mentioned & set(MESSAGES)  # a key chosen by a condition: Message(a if ... else b)
    # Looked up by name: field_<request field> (field_label) and axis_title_/axis_syntax_<axis kind>.
    for kind in AxisKind:
        assert AXIS_KINDS[kind].title == render(f"axis_title_{kind.value}") and f"axis_syntax_{kind.value}" in MESSAGES
        used |= {f"axis_title_{kind.value}", f"axis_syntax_{kind.value}"}
    used |= {key for key in MESSAGES if key.startswith("field_")}
    assert set(MESSAGES) - used == set()


ERROR_CLASSES = {
    "PlaygroundError", "InvalidRequest", "BackendUnavailable", "NotEnoughMemory", "DownloadRequired",
    "ProviderError", "AuthenticationFailed", "InsufficientCredits", "RateLimited", "RequestRejected",
    "ProviderServerError", "ProviderUnreachable", "ProviderTimeout", "BadProviderResponse", "ImageDownloadFailed",
    "QuotaExceeded", "GenerationCancelled", "OutOfMemory", "AxisSyntaxError",
}
# Where each record keeps the sentence a person reads (its position, and its keyword).
SENTENCE_ARGUMENTS = {"FieldProblem": (2, "allowed"), "Availability": (1, "reason"), "ImageFailure": (2, "error"),
                      "CellResult": (3, "error")}


def test_no_error_below_the_ui_is_raised_with_a_sentence_of_its_own():
    """Every error a person can meet is built from the catalog, so the page can say it in Chinese. Only
    ConfigurationError (start-up, in the terminal) and --check's report stay English."""
    found = []
    for path in ROOT.glob("backends/**/*.py"):
        if path.name in ("check.py", "settings.py", "endpoints.py", "messages.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if name in ERROR_CLASSES:
                arguments = node.args[:1]
            elif name in SENTENCE_ARGUMENTS:
                position, keyword = SENTENCE_ARGUMENTS[name]
                arguments = node.args[position:position + 1] + [k.value for k in node.keywords if k.arg == keyword]
            else:
                continue
            for argument in arguments:
                if isinstance(argument, ast.JoinedStr) or (isinstance(argument, ast.Constant) and isinstance(argument.value, str)):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []


def test_parameters_may_be_messages_and_lists_in_either_language():
    ways = [Message("way_hosted"), Message("way_close_programs")]
    assert render("local_out_of_memory", "en", device="cuda:0", hints=ways).endswith(
        "SILICONFLOW_API_KEY); or close other programs and try again."
    )
    assert "SILICONFLOW_API_KEY）；或关闭其他程序后重试。" in render("local_out_of_memory", "zh", device="cuda:0", hints=ways)
    stored = Message("sentences", items=[Message("generation_stopped"), Message("no_image_came_back")]).to_json()
    assert Message.from_json(stored).render("zh") == "已停止生成。没有返回任何图像。"
    assert text_in("Generation stopped.", stored["key"], stored["params"], "en") == "Generation stopped. No image came back."


def test_a_stored_failure_without_a_key_or_with_an_unknown_one_reads_as_stored():
    old = ImageFailure(0, 7, "The provider refused the prompt.", "RequestRejected")
    assert old.error_in("zh") == "The provider refused the prompt."
    newer = ImageFailure(0, 7, "Something new.", "X", error_key="a_key_from_a_later_version", error_params={})
    assert newer.error_in("zh") == "Something new."
    changed = ImageFailure(0, 7, "Generation stopped.", "X", error_key="provider_timeout", error_params={})
    assert changed.error_in("zh") == "Generation stopped."  # its parameters no longer fit: the stored English


def test_errors_without_a_key_read_as_they_are():
    assert message_of(PlaygroundError("A plugin's own sentence."), "zh") == "A plugin's own sentence."
    assert message_of(ValueError("not ours"), "zh") == "not ours"
    assert message_of(GenerationCancelled(), "zh") == "已停止生成。" and str(GenerationCancelled()) == "Generation stopped."


# -- what a person meets, in Chinese --------------------------------------------------------------------


def test_bad_values_are_named_by_the_pages_labels_in_chinese():
    with pytest.raises(InvalidRequest) as refused:
        validate_request({"prompt": " ", "steps": 500, "guidance": 99, "size": "100x100", "colour": "red"}, SEGMIND_CAPABILITIES)
    english = str(refused.value)
    assert english.splitlines() == [
        "Please fix these values:",
        "- colour: 'red' is not allowed; unknown field; known fields are guidance, height, n, negative_prompt, "
        "output_format, output_quality, prompt, scheduler, seed, size, steps, width.",
        "- prompt: '' is not allowed; type a description of the image you want.",
        "- size: '100x100' is not allowed; width and height from 512 to 2048, each a multiple of 8.",
        "- steps: 500 is not allowed; a whole number from 1 to 50.",
        "- guidance: 99 is not allowed; a number from 0 to 20.",
    ]
    chinese = message_of(refused.value, "zh")
    assert chinese.splitlines()[1:] == [
        "- colour：不能是 'red'；这是未知字段，已知字段有 guidance, height, n, negative_prompt, output_format, "
        "output_quality, prompt, scheduler, seed, size, steps, width。",
        "- 提示词（prompt）：不能是 ''；请描述你想要的图像。",
        "- 尺寸（size）：不能是 '100x100'；宽和高都应在 512 到 2048 之间，且是 8 的倍数。",
        "- 步数（steps）：不能是 500；应为 1 到 50 之间的整数。",
        "- 引导强度（guidance）：不能是 99；应为 0 到 20 之间的数。",
    ]
    assert_chinese(chinese, "colour", "red")
    assert refused.value.message_in("en") == english


def generate(backend):
    request = validate_request({"prompt": "a red fox in snow", "size": "1024x1024"}, backend.capabilities)
    return asyncio.run(backend.generate(GenerationRequest(**{**request.to_dict(), "seed": 1234})))


def said(text: str) -> list[str]:
    """What the provider said, quoted in the message: it stays as it came."""
    return re.findall(r"“([^”]*)”", text)


@pytest.mark.parametrize(
    "fault, error",
    [
        ({"kind": "status", "status": 401}, AuthenticationFailed),
        ({"kind": "status", "status": 429, "times": 10}, RateLimited),
        ({"kind": "status", "status": 500, "times": 10}, ProviderServerError),
        ({"kind": "slow", "seconds": 3}, ProviderTimeout),
    ],
)
def test_provider_errors_read_in_chinese(siliconflow_emulator, fault, error):
    backend = make_backend("siliconflow", siliconflow_emulator)
    siliconflow_emulator.fault(fault.pop("kind"), **fault)
    with pytest.raises(error) as caught:
        generate(backend)
    chinese = caught.value.message_in("zh")
    assert_chinese(chinese, backend.label, siliconflow_emulator.base_url, *said(chinese))
    assert "SiliconFlow (Kolors)" in chinese and str(caught.value) == caught.value.message_in("en")
    assert CJK.search(str(caught.value)) is None


def test_a_wrong_key_says_which_variable_in_chinese(siliconflow_emulator):
    backend = make_backend("siliconflow", siliconflow_emulator, key="not-the-key")
    with pytest.raises(AuthenticationFailed) as caught:
        generate(backend)
    assert str(caught.value).startswith(
        "SiliconFlow (Kolors) refused the API key (HTTP 401). Check SILICONFLOW_API_KEY, or paste a valid key in Settings."
    )
    assert caught.value.message_in("zh").startswith(
        "SiliconFlow (Kolors) 拒绝了 API 密钥（HTTP 401）。请检查 SILICONFLOW_API_KEY，或在设置中粘贴有效的密钥。"
    )
    assert "not-the-key" not in caught.value.message_in("zh")


def test_a_backend_without_its_key_says_what_to_set_in_chinese():
    availability = segmind_from_settings(PlaygroundSettings.from_mapping({})).availability()
    assert availability == Availability(False, "Set SEGMIND_API_KEY to use Segmind (Kolors), or paste a key in Settings.")
    assert availability.reason_in("zh") == "设置 SEGMIND_API_KEY 即可使用 Segmind (Kolors)，或在设置中粘贴密钥。"


def test_the_quota_reads_in_chinese():
    quota = HourlyQuota(4, clock=lambda: 1000.0)
    quota.reserve(["visitor"], 3)
    with pytest.raises(QuotaExceeded) as caught:
        quota.reserve(["visitor"], 2)
    assert str(caught.value).startswith("You have used this demo's 4 images for this hour (1 left, 2 asked). Try again in 60 minutes")
    assert caught.value.message_in("zh").startswith("你这一小时在本演示的 4 张图像额度不够了（还剩 1 张，这次要 2 张）。请 60 分钟后再试")
    assert_chinese(caught.value.message_in("zh"))


def test_not_enough_memory_reads_in_chinese():
    refusal = check_memory(estimate_footprint(None, "float32"), DeviceInfo("cpu", total_bytes=16 * GIB), FreeMemory(14 * GIB, 14 * GIB)).error()
    assert refusal is not None
    english, chinese = str(refusal), refusal.message_in("zh")
    assert english.startswith("Not enough memory to load Kolors: it needs about 39.8 GB in RAM, and only 14.0 GB is free there.")
    assert "Ways out: run on a GPU (KOLORS_DEVICE=cuda or KOLORS_DEVICE=mps); a hosted backend" in english
    assert chinese.startswith("内存不足，无法加载可图：内存中大约需要 39.8 GB，但那里只有 14.0 GB 空闲。可图占用：文本编码器 ")
    assert "解决办法：在 GPU 上运行（KOLORS_DEVICE=cuda 或 KOLORS_DEVICE=mps）；改用在线服务" in chinese
    assert_chinese(chinese, "float32")


def test_a_mistyped_axis_reads_in_chinese():
    with pytest.raises(InvalidRequest) as caught:
        parse_axis("seed", "7, 8, 7")
    assert str(caught.value).startswith("Please fix this value:\n- x_axis: '7, 8, 7' is not allowed; Seed axis: '7' is given twice")
    chinese = caught.value.message_in("zh")
    assert chinese.startswith("请修改这一项：\n- X 轴（x_axis）：不能是 '7, 8, 7'；种子轴：'7' 出现了两次；每个值只列一次。写法：")
    assert_chinese(chinese)


def test_a_failed_image_reads_in_chinese_from_the_history(siliconflow_emulator, tmp_path):
    backend = make_backend("siliconflow", siliconflow_emulator)
    siliconflow_emulator.fault("status", status=500, times=10)
    with HistoryStore(tmp_path / "data") as store:
        playground = Playground(registry=Registry([backend]), history=store)
        outcome = asyncio.run(playground.generate("siliconflow", {"prompt": "a red fox", "n": 1}))
        entry = store.get(outcome.entry.id)  # read back from the database
        assert entry is not None
        (failure,) = entry.failures
    assert failure.error.startswith("SiliconFlow (Kolors) had an internal problem (HTTP 500)")
    assert failure.error_in("zh").startswith("SiliconFlow (Kolors) 内部出错（HTTP 500），重试也没有成功。请稍后再试。")
    assert entry.error == failure.error and entry.error_in("zh") == failure.error_in("zh")
    line = html.unescape(outcome_line(RunView(entry, outcome.result), "zh"))  # the Markdown, as it reads
    assert "第 1 张（种子 " in line and "）失败：SiliconFlow (Kolors) 内部出错" in line
    assert_chinese(line, "SiliconFlow (Kolors)", *said(line))


def test_a_stopped_image_and_a_too_large_grid_keep_their_keys():
    failure = ImageFailure(0, 1, GenerationCancelled().localizable, "GenerationCancelled")
    assert (failure.error, failure.error_in("zh"), failure.error_key) == ("Generation stopped.", "已停止生成。", "generation_stopped")
    grid = FieldProblem("grid", Message("grid_shape", shape="20 × 20", cells=400), Message("allowed_max_cells", max=100))
    assert str(InvalidRequest([grid])).endswith("- grid: 20 × 20 = 400 cells is not allowed; at most 100 cells; shorten an axis.")
    assert InvalidRequest([grid]).message_in("zh").endswith("- 网格（grid）：不能是 20 × 20 = 400 个格子；最多 100 个格子；请缩短一个轴。")


def test_a_chinese_reason_is_wrapped_to_the_failure_tile():
    from ui.results import _wrap

    reason = ImageFailure(0, 7, Message("provider_server_error", provider="SiliconFlow (Kolors)", status=500, said=""), "X")
    text = reason.error_in("zh")
    lines = _wrap(text, 34)
    assert len(lines) == 3 and re.sub(r"\s", "", "".join(lines)) == re.sub(r"\s", "", text)
    columns = [sum(2 if CJK.match(c) or c in "，。（）" else 1 for c in line) for line in lines]
    assert max(columns) <= 34 + 2, lines  # closing punctuation may hang past the edge rather than start a line
    assert _wrap("had an internal problem (HTTP 500) and retries did not help.", 34) == [
        "had an internal problem (HTTP 500)", "and retries did not help."
    ]
