"""Every sentence the layers below the UI put in an error, in English and Simplified Chinese.

An error (or a failure kept in the history) carries a :class:`Message`: a key of :data:`MESSAGES` and
its parameters. ``str(message)`` is the English text, which the API, the logs, ``--check`` and the
history keep; the page renders the same message in the visitor's language with :meth:`Message.render`.

Parameters are shown as they are (text, numbers with the placeholder's format spec), or are messages
themselves (rendered in the same language), or sequences of those, joined as the placeholder says::

    {items}             "a; b" in English, "a；b" in Chinese
    {items:comma}       "a, b" / "a、b"
    {items:or}          "a, b or c" / "a、b 或 c"
    {items:sentences}   "A. B." / "A。B。"
    {items:lines}       one "- item" per line

What a provider or a library said (an HTTP error's text, an exception's message) stays as it came, as a
parameter of a translated sentence. Where the sentence goes into markup (the page's Markdown), ``quote``
(:func:`render_quoted`, and the ``quote=`` of :meth:`Message.render` and :func:`text_in`) is applied to
every text parameter, nested ones too, and never to the catalog's own words. :meth:`Message.to_json` and :func:`render` with JSON parameters let
a message be stored (the history's failures) and rendered again later, in either language.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "LANGUAGES", "MESSAGES", "KeyedError", "Message", "either", "field_label", "keyed", "render", "render_quoted", "split",
    "text_in",
]

LANGUAGES = ("en", "zh")

_KOLORS_LAYOUT = "(model_index.json, unet/, vae/, text_encoder/, tokenizer/, scheduler/)"
_KOLORS_LAYOUT_ZH = "（model_index.json、unet/、vae/、text_encoder/、tokenizer/、scheduler/）"

MESSAGES: dict[str, tuple[str, str]] = {
    # -- the exception tree and request validation ----------------------------------------------------
    "generation_stopped": ("Generation stopped.", "已停止生成。"),
    "invalid_request_one": ("Please fix this value:\n{problems:lines}", "请修改这一项：\n{problems:lines}"),
    "invalid_request": ("Please fix these values:\n{problems:lines}", "请修改以下各项：\n{problems:lines}"),
    "field_problem": ("{field}: {value} is not allowed; {allowed}.", "{field}：不能是 {value}；{allowed}。"),
    # A request field as a person reads it: the API name in English, the page's label with the API name in
    # Chinese. Looked up by field_label(), so each key is "field_" + the field's name.
    "field_prompt": ("prompt", "提示词（prompt）"),
    "field_negative_prompt": ("negative_prompt", "负面提示词（negative_prompt）"),
    "field_size": ("size", "尺寸（size）"),
    "field_width": ("width", "宽度（width）"),
    "field_height": ("height", "高度（height）"),
    "field_n": ("n", "张数（n）"),
    "field_seed": ("seed", "种子（seed）"),
    "field_steps": ("steps", "步数（steps）"),
    "field_guidance": ("guidance", "引导强度（guidance）"),
    "field_scheduler": ("scheduler", "采样器（scheduler）"),
    "field_output_format": ("output_format", "格式（output_format）"),
    "field_output_quality": ("output_quality", "质量（output_quality）"),
    "field_backend": ("backend", "服务（backend）"),
    "field_x_axis": ("x_axis", "X 轴（x_axis）"),
    "field_y_axis": ("y_axis", "Y 轴（y_axis）"),
    "field_grid": ("grid", "网格（grid）"),
    "field_preset": ("preset", "风格（preset）"),
    "field_preset.name": ("preset.name", "风格名称（preset.name）"),
    "field_preset.name_zh": ("preset.name_zh", "风格中文名称（preset.name_zh）"),
    "field_preset.template": ("preset.template", "风格模板（preset.template）"),
    "field_preset.negative_prompt": ("preset.negative_prompt", "风格负面提示词（preset.negative_prompt）"),
    "field_preset.size": ("preset.size", "风格尺寸（preset.size）"),
    "field_preset.steps": ("preset.steps", "风格步数（preset.steps）"),
    "field_preset.guidance": ("preset.guidance", "风格引导强度（preset.guidance）"),
    "field_preset.scheduler": ("preset.scheduler", "风格采样器（preset.scheduler）"),
    "allowed_unknown_field": ("unknown field; known fields are {known}", "这是未知字段，已知字段有 {known}"),
    "allowed_no_negative_prompt": (
        "this backend does not accept a negative prompt; leave it empty", "此服务不接受负面提示词，请留空"
    ),
    "allowed_no_quality": ("this backend has no quality setting; leave it out", "此服务没有质量设置，请不要填写"),
    # The JSON routes for curl (ui/rest.py).
    "rest_not_an_object": (
        "The body must be a JSON object of the fields to set, like {{\"prompt\": \"a kite\"}}; /api/{endpoint} takes {known}.",
        "请求体须为一个 JSON 对象，写出要设置的字段，例如 {{\"prompt\": \"a kite\"}}；/api/{endpoint} 接受的字段有 {known}。",
    ),
    "rest_unknown_fields": (
        "Unknown field {fields}: /api/{endpoint} takes {known}.", "未知字段 {fields}：/api/{endpoint} 接受的字段有 {known}。",
    ),
    "rest_failed": (
        "The call to /{endpoint} could not be completed ({kind}); try again, and if it keeps failing see the server's log.",
        "对 /{endpoint} 的调用未能完成（{kind}）；请重试，若一直失败请查看服务器日志。",
    ),
    "allowed_backend_lacks": (
        "{backend} has no such setting; leave it out for this backend", "{backend} 没有这项设置，用这个服务时请不要填写"
    ),
    "allowed_no_such_setting": ("this backend has no such setting; leave it out", "此服务没有这项设置，请不要填写"),
    "allowed_text": ("it must be text", "必须是文本"),
    "allowed_broken_character": (
        "it contains a broken character (half of a UTF-16 pair); type or paste it again",
        "其中有一个残缺的字符（半个 UTF-16 代理对），请重新输入或粘贴",
    ),
    "allowed_describe_image": ("type a description of the image you want", "请描述你想要的图像"),
    "value_characters": ("<{count} characters>", "<{count} 个字符>"),
    "allowed_max_characters": ("at most {limit} characters", "最多 {limit} 个字符"),
    "allowed_whole_number_range": ("a whole number from {low} to {high}", "应为 {low} 到 {high} 之间的整数"),
    "allowed_number_range": ("a number from {low:g} to {high:g}", "应为 {low:g} 到 {high:g} 之间的数"),
    "allowed_one_of": ("one of {options}", "应为以下之一：{options}"),
    "allowed_choose_one_of": ("choose one of {options}", "请从以下选择一个：{options}"),
    "allowed_size_format": ("width x height, like {example}", "应写成 宽x高，例如 {example}"),
    "allowed_whole_numbers": ("whole numbers", "应为整数"),
    "allowed_size_range": (
        "width and height from {low} to {high}, each a multiple of {multiple}",
        "宽和高都应在 {low} 到 {high} 之间，且是 {multiple} 的倍数",
    ),
    "allowed_seed": ("-1 for random, or a whole number from 0 to {top}", "-1 表示随机，或 0 到 {top} 之间的整数"),
    "allowed_seed_in_batch": (
        "-1 for random, or a whole number from 0 to {top} (image i of a batch uses seed+i, so with n={n} the "
        "largest start is {top})",
        "-1 表示随机，或 0 到 {top} 之间的整数（同一批的各张图依次使用种子、种子+1……，所以一次生成 {n} 张时，"
        "起始种子最大为 {top}）",
    ),
    "allowed_characters_range": ("{low} to {high} characters", "应为 {low} 到 {high} 个字符"),
    "allowed_template": (
        "text with {{prompt}} where the typed prompt goes", "含有 {{prompt}} 的文字，输入的提示词会放在 {{prompt}} 处"
    ),
    "allowed_sampler_name": ("a sampler name such as Euler a", "采样器名称，例如 Euler a"),
    "allowed_preset": ("one of {names}, or empty for none", "应为以下之一：{names}；或留空，表示不用风格"),
    "allowed_preset_name_free": ("a name that no built-in style has", "一个与内置风格都不重名的名称"),
    "allowed_seed_from_zero": ("-1 for random, or a whole number from 0", "-1 表示随机，或从 0 起的整数"),
    "none_configured": ("(none configured)", "（未配置任何服务）"),
    # -- backends: availability, quota, runner, history -----------------------------------------------
    "set_key_to_use": ("Set {env} to use {provider}, or paste a key in Settings.", "设置 {env} 即可使用 {provider}，或在设置中粘贴密钥。"),
    "cpu_only": (
        "Only Kolors on this machine's CPU is available, and that is slow and heavy ({costs}). For a hosted "
        "backend, set one of {keys:or} (or declare your own server with PLAYGROUND_BACKENDS) and restart; or "
        "run on a GPU with KOLORS_DEVICE=cuda.",
        "目前只能在本机的 CPU 上运行可图，既慢又占资源（{costs}）。如需在线服务，请设置 {keys:or}"
        "（或用 PLAYGROUND_BACKENDS 声明你自己的服务器）后重启；或用 KOLORS_DEVICE=cuda 在 GPU 上运行。",
    ),
    "cpu_cost_of": ("{backend}: {cost}", "{backend}：{cost}"),
    "cpu_cost": ("minutes per image, ~{memory} memory", "每张需要几分钟，约占 {memory} 内存"),
    "quota_over_limit": (
        "This demo allows {limit} images per hour per visitor; ask for at most {limit}, or paste your own API "
        "key in Settings.",
        "本演示每位访客每小时最多生成 {limit} 张图像；请一次最多要 {limit} 张，或在设置中粘贴你自己的 API 密钥。",
    ),
    "quota_used_up": (
        "You have used this demo's {limit} images for this hour. Try again in {wait}, or paste your own API key "
        "in Settings to use your own credits.",
        "你已用完本演示这一小时的 {limit} 张图像。请 {wait}后再试，或在设置中粘贴你自己的 API 密钥，用你自己的额度。",
    ),
    "quota_used_up_some_left": (
        "You have used this demo's {limit} images for this hour ({left} left, {count} asked). Try again in "
        "{wait}, or paste your own API key in Settings to use your own credits.",
        "你这一小时在本演示的 {limit} 张图像额度不够了（还剩 {left} 张，这次要 {count} 张）。请 {wait}后再试，"
        "或在设置中粘贴你自己的 API 密钥，用你自己的额度。",
    ),
    "too_many_jobs": (
        "You already have {count} jobs queued or running on this demo, and it allows {limit} at a time per "
        "visitor. Wait for one to finish (or stop it), then try again.",
        "你在本演示已有 {count} 个任务在排队或运行，而每位访客同时最多 {limit} 个。请等其中一个完成（或停止它）后再试。",
    ),
    "minutes_one": ("1 minute", "1 分钟"),
    "minutes": ("{n} minutes", "{n} 分钟"),
    "wrong_image_count": (
        "{provider} returned {count} image(s) instead of {expected}. Try again.",
        "{provider} 返回了 {count} 张图像，而不是 {expected} 张。请重试。",
    ),
    "unexpected_failure": (
        "{provider} failed unexpectedly ({error_type}). Try again; if it persists, report it.",
        "{provider} 意外出错（{error_type}）。请重试；如果一直出错，请报告这个问题。",
    ),
    "image_not_stored": (
        "Image {index} came back but could not be stored: {error}", "第 {index} 张图像已返回，但无法保存：{error}"
    ),
    "no_image_came_back": ("No image came back.", "没有返回任何图像。"),
    # -- hosted providers -----------------------------------------------------------------------------
    "key_hint": ("Check the API key.", "请检查 API 密钥。"),
    "key_hint_env": ("Check {env}, or paste a valid key in Settings.", "请检查 {env}，或在设置中粘贴有效的密钥。"),
    "provider_said": (' It said: "{detail}"', "服务方的原话：“{detail}”。"),
    "provider_pool_busy": (
        "All connections to {provider} stayed busy for {seconds:g} s. Try again with fewer images at once.",
        "与 {provider} 的所有连接在 {seconds:g} 秒内一直被占用。请一次少生成几张后重试。",
    ),
    "provider_unreachable": (
        "Could not connect to {provider} at {url}. Check your network and the base URL, then try again.",
        "无法连接到 {provider}（{url}）。请检查网络和 base URL，然后重试。",
    ),
    "provider_connect_timeout": (
        "Could not connect to {provider} at {url} within {seconds:g} s. Check your network and the base URL, "
        "then try again.",
        "无法在 {seconds:g} 秒内连接到 {provider}（{url}）。请检查网络和 base URL，然后重试。",
    ),
    "provider_timeout": (
        "{provider} did not answer within {seconds:g} s. The service may be overloaded; try again in a minute, "
        "or with fewer steps or a smaller size.",
        "{provider} 在 {seconds:g} 秒内没有回应。服务可能过载了；请过一分钟再试，或减少步数、缩小尺寸。",
    ),
    "provider_connection_failed": (
        "The connection to {provider} failed ({error_type}). Try again.", "与 {provider} 的连接失败（{error_type}）。请重试。"
    ),
    "provider_auth": (
        "{provider} refused the API key (HTTP {status}). {hint}{said}",
        "{provider} 拒绝了 API 密钥（HTTP {status}）。{hint}{said}",
    ),
    "provider_no_credits": (
        "{provider} says the account has no credits left (HTTP 402). Top up the account, then try again.{said}",
        "{provider} 表示账户余额已用完（HTTP 402）。请充值后重试。{said}",
    ),
    "provider_rate_limited": (
        "{provider} is rate-limiting requests (HTTP 429). Try again in a minute, or with fewer images.{said}",
        "{provider} 正在限制请求频率（HTTP 429）。请过一分钟再试，或少生成几张。{said}",
    ),
    "provider_rate_limited_for": (
        "{provider} is rate-limiting requests (HTTP 429). Try again in {seconds:g} s, or with fewer images.{said}",
        "{provider} 正在限制请求频率（HTTP 429）。请 {seconds:g} 秒后再试，或少生成几张。{said}",
    ),
    "provider_server_error": (
        "{provider} had an internal problem (HTTP {status}) and retries did not help. Try again later.{said}",
        "{provider} 内部出错（HTTP {status}），重试也没有成功。请稍后再试。{said}",
    ),
    "provider_no_endpoint": (
        "{provider} has no such endpoint (HTTP {status}) at {url}. Check the base URL.{said}",
        "{provider} 在 {url} 没有这个接口（HTTP {status}）。请检查 base URL。{said}",
    ),
    "provider_rejected": (
        "{provider} rejected the request (HTTP {status}).{said} Change the prompt or settings and try again.",
        "{provider} 拒绝了这个请求（HTTP {status}）。{said}请修改提示词或设置后重试。",
    ),
    "provider_malformed_json": (
        "{provider} answered with malformed JSON. This is usually temporary; try again.",
        "{provider} 返回了格式错误的 JSON。这通常是暂时的，请重试。",
    ),
    "segmind_no_credits": (
        "{provider} says there are not enough credits for this request (HTTP 406). Add credits to the Segmind "
        "account, or generate fewer or smaller images.",
        "{provider} 表示余额不够这次请求（HTTP 406）。请给 Segmind 账户充值，或生成更少、更小的图像。",
    ),
    "answer_not_an_image": (
        "{provider} answered with {content_type} instead of an image. Try again.",
        "{provider} 返回的是 {content_type}，而不是图像。请重试。",
    ),
    "untyped_body": ("an untyped body", "没有类型的内容"),
    "wrong_output_format": (
        "{provider} sent {mime} although {format} was asked for.", "请求的是 {format}，{provider} 却发来了 {mime}。"
    ),
    "answer_without_images": (
        "{provider} answered without images (no data[] in its JSON). Try again.",
        "{provider} 的回复里没有图像（JSON 中没有 data[]）。请重试。",
    ),
    "answer_without_image_urls": ("{provider} answered without image URLs. Try again.", "{provider} 的回复里没有图像 URL。请重试。"),
    "image_not_base64": ("{provider} sent an image that is not valid base64.", "{provider} 发来的图像不是有效的 base64。"),
    "image_entry_empty": (
        "{provider} sent an image entry with neither url nor b64_json.", "{provider} 发来的图像条目既没有 url，也没有 b64_json。"
    ),
    "image_location_not_http": (
        "{provider} returned an image location that is not an http(s) URL: {location}. If this is a self-hosted "
        'server, set response_format = "b64_json" for it.',
        "{provider} 返回的图像地址不是 http(s) URL：{location}。如果这是自建的服务器，请为它设置 "
        'response_format = "b64_json"。',
    ),
    "not_an_http_address": ("(not an http address)", "（不是 http 地址）"),
    "image_redirect_refused": (
        "{provider}'s image URL redirected off http(s); refused. Try again.",
        "{provider} 的图像 URL 被重定向到非 http(s) 地址，已拒绝。请重试。",
    ),
    "data_dir_not_writable": (
        "the data directory {path} cannot be written ({reason}). Point PLAYGROUND_DATA_DIR at a writable folder "
        "(on a Space, enable persistent storage or use /tmp).",
        "数据目录 {path} 无法写入（{reason}）。请把 PLAYGROUND_DATA_DIR 指向一个可写的文件夹"
        "（在 Hugging Face 空间上请开启持久存储，或使用 /tmp/ 下的目录）。",
    ),
    "data_dir_full": (
        "the disk of the data directory {path} is full. Free some space, then start again.",
        "数据目录 {path} 所在的磁盘已满。请腾出一些空间后再启动。",
    ),
    "history_database_corrupt": (
        "the history database {path} is damaged or is not a SQLite database ({reason}). Put back a backup of it, "
        "or move it away to start a new, empty history.",
        "历史数据库 {path} 已损坏，或不是一个数据库文件（{reason}）。请放回它的备份，或把它移走以开始一个新的空历史。",
    ),
    "history_database_empty": (
        "the history database {path} is empty (0 bytes): a full disk or an interrupted copy may have emptied it, "
        "and starting would begin a new history beside the old images. Put back a backup of it, or delete the file "
        "to start a new, empty history.",
        "历史数据库 {path} 是空的（0 字节）：可能是磁盘已满或复制中断造成的，此时启动会在旧图像旁开始一个新的历史。"
        "请放回它的备份，或删除这个文件以开始一个新的空历史。",
    ),
    "storage_full": (
        "The server's disk is full: these images were not kept. They do not count against your quota; try again later.",
        "服务器磁盘已满：这些图像没有保存。它们不计入你的配额；请稍后再试。",
    ),
    "storage_not_writable": (
        "The server cannot write its history ({reason}): these images were not kept. They do not count against your "
        "quota; tell the operator.",
        "服务器无法写入历史记录（{reason}）：这些图像没有保存。它们不计入你的配额；请告知运营者。",
    ),
    "storage_download_full": (
        "The server's disk is full: the download could not be prepared. Delete some history entries, or try again later.",
        "服务器磁盘已满：无法准备下载。请删除一些历史记录，或稍后再试。",
    ),
    "image_address_refused": (
        "{provider}'s image URL points at {host} ({address}), a private or local address; refused. Image URLs must be "
        "on the backend's own host or a public address.",
        "{provider} 的图像 URL 指向 {host}（{address}），这是私有或本地地址，已拒绝。图像 URL 只能来自该服务自己的主机"
        "或公网地址。",
    ),
    "image_too_many_redirects": (
        "{provider}'s image URL redirected more than {limit} times; refused. Try again.",
        "{provider} 的图像 URL 重定向超过 {limit} 次，已拒绝。请重试。",
    ),
    "image_link_expired": (
        "{provider}'s image link had already expired (HTTP {status}). Generate again; images are now saved as "
        "soon as they arrive.",
        "{provider} 的图像链接已经过期（HTTP {status}）。请重新生成；现在图像一到就会立即保存。",
    ),
    "image_download_status": (
        "Downloading the image from {provider} failed (HTTP {status}). Try again.",
        "从 {provider} 下载图像失败（HTTP {status}）。请重试。",
    ),
    "image_download_too_slow": (
        "Downloading the image from {provider} took longer than {seconds:g} s. Try again.",
        "从 {provider} 下载图像用了超过 {seconds:g} 秒。请重试。",
    ),
    "image_download_timeout": (
        "Downloading the image from {provider} timed out after {seconds:.0f} s. Try again.",
        "从 {provider} 下载图像在 {seconds:.0f} 秒后超时。请重试。",
    ),
    "image_download_failed": (
        "Downloading the image from {provider} failed ({error_type}). Try again.",
        "从 {provider} 下载图像失败（{error_type}）。请重试。",
    ),
    "image_url_not_an_image": (
        "{provider}'s image URL returned {content_type} instead of an image. Try again.",
        "{provider} 的图像 URL 返回的是 {content_type}，而不是图像。请重试。",
    ),
    "image_over_megabytes": (
        "{provider} sent an image over {limit_mb} MB ({size} bytes); refused. Try again with a smaller size.",
        "{provider} 发来的图像超过 {limit_mb} MB（{size} 字节），已拒绝。请缩小尺寸后重试。",
    ),
    "image_over_size_limit": (
        "{provider} sent an image over the size limit ({size} bytes); refused. Try again with a smaller size.",
        "{provider} 发来的图像超过大小上限（{size} 字节），已拒绝。请缩小尺寸后重试。",
    ),
    "image_too_many_pixels": (
        "{provider} sent an image of {width}x{height} pixels, over the limit of {limit} pixels; refused. Try "
        "again with a smaller size.",
        "{provider} 发来的图像有 {width}x{height} 像素，超过了 {limit} 像素的上限，已拒绝。请缩小尺寸后重试。",
    ),
    "image_unexpected_format": (
        "{provider} sent a {kind} image; expected PNG, JPEG or WebP. Try again.",
        "{provider} 发来的是 {kind} 图像，应为 PNG、JPEG 或 WebP。请重试。",
    ),
    "image_decompression_bomb": (
        "{provider} sent an image too large to decode safely (a decompression bomb); refused. Try again; if it "
        "keeps happening, the provider is sending broken images.",
        "{provider} 发来的图像太大，无法安全解码（解压炸弹），已拒绝。请重试；如果一直这样，说明服务商发来的图像有问题。",
    ),
    "image_incomplete": (
        "{provider} sent something that is not a complete image ({error_type}). Try again.",
        "{provider} 发来的不是完整的图像（{error_type}）。请重试。",
    ),
    "xinference_no_model": (
        "{provider} has no model {model!r} running. Launch it on the cluster (xinference launch --model-type "
        "image --model-name NAME --model-uid {model}), or set model to a running model's uid.{said}",
        "{provider} 上没有正在运行的模型 {model!r}。请在集群上启动它（xinference launch --model-type image "
        "--model-name NAME --model-uid {model}），或把 model 设为一个正在运行的模型的 uid。{said}",
    ),
    "xinference_worker_down": (
        "{provider} could not reach the worker that serves {model!r} (HTTP {status}): the worker or the model "
        "stopped. Restart the worker, launch the model again, then generate again.",
        "{provider} 连不上运行 {model!r} 的 worker（HTTP {status}）：worker 或模型已经停止。请重启 worker，"
        "重新启动模型，然后再生成。",
    ),
    "xinference_cancelled": (
        "{provider} cancelled this generation on the server (HTTP 409). Generate again.",
        "{provider} 在服务器上取消了这次生成（HTTP 409）。请重新生成。",
    ),
    # -- the local backend ----------------------------------------------------------------------------
    "local_install_missing": (
        'Install the local extra: pip install "kolors-playground[local]" (missing: {packages}).',
        '请安装本地运行所需的扩展：pip install "kolors-playground[local]"（缺少：{packages}）。',
    ),
    "local_install": (
        'Install the local extra: pip install "kolors-playground[local]" ({error}).',
        '请安装本地运行所需的扩展：pip install "kolors-playground[local]"（{error}）。',
    ),
    "local_model_not_a_folder": (
        "{env} points to {model!r}, which is not a folder. Set it to a folder with the diffusers layout "
        f"{_KOLORS_LAYOUT} or to a Hub id such as {{default}}.",
        f"{{env}} 指向的 {{model!r}} 不是文件夹。请把它设为 diffusers 结构的文件夹{_KOLORS_LAYOUT_ZH}，"
        "或 Hub 上的模型 id，例如 {default}。",
    ),
    "local_model_no_index": (
        "{env} points to {model!r}, which has no model_index.json: it is not a diffusers pipeline folder. "
        "Download one with `hf download {default} --local-dir FOLDER`.",
        "{env} 指向的 {model!r} 里没有 model_index.json，不是 diffusers 管线文件夹。可以用 "
        "`hf download {default} --local-dir FOLDER` 下载一个。",
    ),
    "parts_index_missing": ("model_index.json is missing", "缺少 model_index.json"),
    "parts_index_unreadable": ("model_index.json cannot be read ({error})", "无法读取 model_index.json（{error}）"),
    "parts_folder_missing": ("{name}/ is missing", "缺少 {name}/"),
    "parts_weights_incomplete": ("{name}/ has no complete set of weights", "{name}/ 中的权重不完整"),
    "local_weights_incomplete": (
        "Could not load Kolors weights from {model!r}: {problem}. Set {env} to a folder with the diffusers layout "
        f"{_KOLORS_LAYOUT}, or to a Hub id such as {{default}}.",
        f"无法从 {{model!r}} 加载可图的权重：{{problem}}。请把 {{env}} 设为 diffusers 结构的文件夹{_KOLORS_LAYOUT_ZH}，"
        "或 Hub 上的模型 id，例如 {default}。",
    ),
    "local_load_failed": (
        "Could not load Kolors weights from {model!r}: {error} Set {env} to a folder with the diffusers layout "
        f"{_KOLORS_LAYOUT}, or to a Hub id that can be downloaded here, such as {{default}}.",
        f"无法从 {{model!r}} 加载可图的权重：{{error}} 请把 {{env}} 设为 diffusers 结构的文件夹{_KOLORS_LAYOUT_ZH}，"
        "或能在这里下载的 Hub 模型 id，例如 {default}。",
    ),
    "local_does_not_fit": (
        "Kolors does not fit in the memory of {device}. Restart with {env}=1 to keep each model on the CPU until "
        "it is needed, or use a larger GPU.",
        "{device} 的内存装不下可图。请用 {env}=1 重启，让各个模型在用到之前留在 CPU 上，或换一块更大的 GPU。",
    ),
    "local_out_of_memory": ("{device} ran out of memory while generating. Try {hints}.", "{device} 在生成时内存不足。请尝试{hints}。"),
    "oom_smaller_size": ("a smaller size than {size}", "比 {size} 更小的尺寸"),
    "oom_restart_cpu_offload": (
        "or restart with {env}=1 (slower, far less GPU memory)", "或用 {env}=1 重启（更慢，但占用的 GPU 内存少得多）"
    ),
    "oom_restart_vae_tiling": ("or restart with {env}=1 (decodes large images in tiles)", "或用 {env}=1 重启（分块解码大图）"),
    "local_rejected": ("Kolors rejected the request: {error}", "可图拒绝了这个请求：{error}"),
    "local_failed": ("Kolors failed while generating: {error_type}: {error}", "可图在生成时出错：{error_type}：{error}"),
    "local_not_loaded": ("The Kolors pipeline is not loaded.", "可图管线尚未加载。"),
    "device_probe_timeout": (
        "Finding the GPU took more than {seconds} s (importing torch hangs). Set {env}=cpu, or check the torch "
        'install with: python -c "import torch; print(torch.cuda.is_available())".',
        "查找 GPU 用了超过 {seconds} 秒（导入 torch 时卡住了）。请设置 {env}=cpu，或用这条命令检查 torch 的安装："
        'python -c "import torch; print(torch.cuda.is_available())"。',
    ),
    "device_unknown": (
        "Could not find out which device Kolors would run on: {error_type}: {error}",
        "无法确定可图会在哪个设备上运行：{error_type}：{error}",
    ),
    "device_probe_failed": ("torch failed while looking for a GPU: {error}", "torch 在查找 GPU 时出错：{error}"),
    "device_absent": (
        "{env}={requested} but torch {version} sees no such device here{seen}. Set {env}=auto, or install a torch "
        "build for that device.",
        "设置了 {env}={requested}，但 torch {version} 在这台机器上找不到这个设备{seen}。请设置 {env}=auto，"
        "或安装支持该设备的 torch 版本。",
    ),
    "device_seen_one": (" (it sees 1 {kind} device)", "（它只看到 1 个 {kind} 设备）"),
    "device_seen": (" (it sees {count} {kind} devices)", "（它看到 {count} 个 {kind} 设备）"),
    "device_zero_gpu": (
        "ZeroGPU (a GPU attached per call on Hugging Face Spaces)", "ZeroGPU（Hugging Face Spaces 上每次调用时分配的 GPU）"
    ),
    "device_mps_memory": ("Apple MPS, {total} unified memory", "Apple MPS，{total} 统一内存"),
    "device_cpu_ram": ("CPU, {total} RAM", "CPU，{total} 内存"),
    "not_enough_memory": (
        "Not enough memory to load Kolors: it needs about {needed} {where}{counts}, and only {free} is free there. "
        "Kolors takes {breakdown}. Ways out: {ways}.",
        "内存不足，无法加载可图：{where}大约需要 {needed}{counts}，但那里只有 {free} 空闲。可图占用：{breakdown}。"
        "解决办法：{ways}。",
    ),
    "memory_in_ram": ("in RAM", "内存中"),
    # Progress phases the page shows while the local backend works.
    "phase_loading": ("Loading the Kolors weights from {model} (first use only)", "正在从 {model} 加载可图权重（仅首次使用）"),
    "phase_loading_tight": (
        "Loading the Kolors weights from {model} (first use only). {warning}",
        "正在从 {model} 加载可图权重（仅首次使用）。{warning}",
    ),
    "memory_tight": (
        "Memory is tight: Kolors needs {detail}. Other programs may slow down or be pushed to swap.",
        "内存紧张：可图需要{detail}。其他程序可能会变慢，或被换到交换区。",
    ),
    "memory_tight_item": ("about {needed} of the {free} free {where}", "{where}约 {needed}（可用 {free}）"),
    "phase_download": ("Downloading the Kolors weights: {done} of {total}", "正在下载可图权重：{done}/{total}"),
    "phase_download_rate": (
        "Downloading the Kolors weights: {done} of {total} at {rate}", "正在下载可图权重：{done}/{total}，速度 {rate}"
    ),
    "memory_on_gpu": ("on the GPU ({device})", "GPU（{device}）上"),
    "memory_in_unified": ("in unified memory ({device})", "统一内存（{device}）中"),
    "memory_counts": (" ({counts})", "（{counts}）"),
    "memory_counts_largest": ("the largest model at a time, with CPU offload", "启用 CPU 卸载时，一次只放最大的一个模型"),
    "memory_counts_all_wait": ("every model waits there, with CPU offload", "启用 CPU 卸载时，所有模型都在这里等待"),
    "memory_breakdown": (
        "{parts} and working memory {working} in {dtype}, {source}", "{parts}，另加工作内存 {working}（{dtype}，{source}）"
    ),
    "memory_part": ("{component} {size}", "{component} {size}"),
    "component_text_encoder": ("text encoder", "文本编码器"),
    "component_unet": ("UNet", "UNet"),
    "component_vae": ("VAE", "VAE"),
    "memory_source_files": ("from the model's files", "按模型文件计算"),
    "memory_source_documented": ("from Kolors' published sizes", "按可图公布的大小计算"),
    "memory_source_mixed": (
        "from the model's files; {documented} from Kolors' published sizes",
        "按模型文件计算，其中{documented}按可图公布的大小计算",
    ),
    "way_gpu": ("run on a GPU ({env}=cuda or {env}=mps)", "在 GPU 上运行（{env}=cuda 或 {env}=mps）"),
    "way_cpu_offload": (
        "{env}=1 keeps each model in RAM until it is needed (about {size} on the GPU at a time; slower)",
        "用 {env}=1 让各个模型在用到之前留在内存里（GPU 上同时只占约 {size}；更慢）",
    ),
    "way_other_gpu": ("another GPU with more free memory ({env}=cuda:N)", "换一块空闲内存更多的 GPU（{env}=cuda:N）"),
    "way_no_offload": (
        "{env}=0 if the GPU can hold the whole pipeline (about {size})", "如果 GPU 装得下整个管线（约 {size}），设 {env}=0"
    ),
    "way_hosted": (
        "a hosted backend (set DIEYUYUN_API_KEY, SEGMIND_API_KEY or SILICONFLOW_API_KEY)",
        "改用在线服务（设置 DIEYUYUN_API_KEY、SEGMIND_API_KEY 或 SILICONFLOW_API_KEY）",
    ),
    "way_close_programs": ("or close other programs and try again", "或关闭其他程序后重试"),
    "size_from_hub": ("as the Hub lists the files", "按 Hub 列出的文件计算"),
    "size_documented": (
        "Kolors' published size; the Hub could not be asked: {reason}", "这是可图公布的大小；无法向 Hub 查询：{reason}"
    ),
    "hub_offline": ("HF_HUB_OFFLINE is set", "设置了 HF_HUB_OFFLINE"),
    "download_required": (
        "Kolors' weights are not on this machine yet. The first generation needs a download of {size} ({source}) "
        "from the Hugging Face Hub ({repo}) into {destination}{free_note}. Nothing was downloaded. Confirm to start "
        "it (on the page, or download=true through the API), or set {env}=1 to download and load it when the app "
        "starts.",
        "这台机器上还没有可图的权重。第一次生成需要从 Hugging Face Hub（{repo}）下载 {size}（{source}）到 "
        "{destination}{free_note}。目前什么都没有下载。请确认后开始下载（在页面上确认，或通过 API 传 download=true），"
        "或设置 {env}=1，在应用启动时下载并加载。",
    ),
    "download_free_note": ("; {free} of disk is free there", "；那里的磁盘还有 {free} 空闲"),
    "download_offline": (
        "Kolors' weights ({repo}) are not in the Hugging Face cache ({destination}), and HF_HUB_OFFLINE=1 forbids "
        "downloading them (about {size}). Unset HF_HUB_OFFLINE, or set {env} to a folder that holds the weights.",
        "可图的权重（{repo}）不在 Hugging Face 缓存（{destination}）中，而 HF_HUB_OFFLINE=1 禁止下载它们（约 {size}）。"
        "请取消 HF_HUB_OFFLINE，或把 {env} 设为存有权重的文件夹。",
    ),
    "download_no_disk": (
        "Kolors' weights ({repo}) need a download of {size} into {destination}, but only {free} of disk is free "
        "there. Free some space (or set HF_HOME to a larger disk) and try again.",
        "可图的权重（{repo}）需要下载 {size} 到 {destination}，但那里的磁盘只有 {free} 空闲。"
        "请腾出一些空间（或把 HF_HOME 设到更大的磁盘）后重试。",
    ),
    "hub_gated": (
        "{env}={repo} is a gated model on the Hub: accept its terms on huggingface.co and log in (hf auth login, "
        "or set HF_TOKEN), or set {env} to a folder with the weights.",
        "{env}={repo} 是 Hub 上需要申请访问的模型：请在 huggingface.co 上同意它的条款并登录（hf auth login，"
        "或设置 HF_TOKEN），或把 {env} 设为存有权重的文件夹。",
    ),
    "hub_not_found": (
        "{env}={repo} is not a model on the Hub (or it is private). Set it to a Hub id such as "
        "Kwai-Kolors/Kolors-diffusers, or to a folder with the weights.",
        "{env}={repo} 不是 Hub 上的模型（或者是私有的）。请把它设为 Hub 上的模型 id，例如 "
        "Kwai-Kolors/Kolors-diffusers，或存有权重的文件夹。",
    ),
    "hub_unreachable": (
        "Cannot download Kolors' weights ({repo}): the Hugging Face Hub could not be reached ({reason}). Check the "
        "connection (and HF_ENDPOINT), or set {env} to a folder with the weights.",
        "无法下载可图的权重（{repo}）：连不上 Hugging Face Hub（{reason}）。请检查网络连接（以及 HF_ENDPOINT），"
        "或把 {env} 设为存有权重的文件夹。",
    ),
    "download_incomplete": (
        "The download of {repo} finished incomplete ({problem}). Try again.", "{repo} 下载结束了，但不完整（{problem}）。请重试。"
    ),
    # -- Compare: axes, plans, grids ------------------------------------------------------------------
    # An axis kind's title and syntax: "axis_title_" / "axis_syntax_" + the kind's value (see compare/axes.py).
    "axis_title_seed": ("Seed", "种子"),
    "axis_title_guidance": ("Guidance", "引导强度"),
    "axis_title_steps": ("Steps", "步数"),
    "axis_title_scheduler": ("Sampler", "采样器"),
    "axis_title_size": ("Size", "尺寸"),
    "axis_title_backend": ("Backend", "服务"),
    "axis_title_prompt_sr": ("Prompt S/R", "提示词替换"),
    "axis_syntax_seed": (
        "a count of seeds counted up from the base seed (4 or [4]), or seeds separated by commas (1, 7, 42), "
        "ranges (100-103), stepped ranges (100-200 (+25)) or counted ranges (0-1000 [5])",
        "从基础种子往上数的个数（4 或 [4]），或用逗号分隔的种子（1, 7, 42）、范围（100-103）、"
        "带步长的范围（100-200 (+25)）或指定个数的范围（0-1000 [5]）",
    ),
    "axis_syntax_guidance": (
        "numbers separated by commas (4.5, 6, 7.5), ranges (3-7), stepped ranges (3-7 (+0.5)) or counted ranges "
        "(4-8 [3])",
        "用逗号分隔的数（4.5, 6, 7.5）、范围（3-7）、带步长的范围（3-7 (+0.5)）或指定个数的范围（4-8 [3]）",
    ),
    "axis_syntax_steps": (
        "whole numbers separated by commas (20, 30, 50), ranges (10-14), stepped ranges (10-50 (+10)) or counted "
        "ranges (10-50 [3])",
        "用逗号分隔的整数（20, 30, 50）、范围（10-14）、带步长的范围（10-50 (+10)）或指定个数的范围（10-50 [3]）",
    ),
    "axis_syntax_scheduler": (
        "sampler names separated by commas (Euler, Euler a, DPM++ 2M)", "用逗号分隔的采样器名称（Euler, Euler a, DPM++ 2M）"
    ),
    "axis_syntax_size": (
        "sizes as WIDTHxHEIGHT separated by commas (1024x1024, 768x1024)", "用逗号分隔的 宽x高 尺寸（1024x1024, 768x1024）"
    ),
    "axis_syntax_backend": (
        "backend ids separated by commas (dieyuyun, siliconflow)", "用逗号分隔的服务 id（dieyuyun, siliconflow）"
    ),
    "axis_syntax_prompt_sr": (
        "texts separated by commas, the first found in the prompt and each one put in its place (cat, dog, fox); "
        'quote a text that holds a comma ("red, round", blue)',
        "用逗号分隔的文字：第一个须出现在提示词中，依次替换为每一个（cat, dog, fox）；"
        '含逗号的文字请加引号（"red, round", blue）',
    ),
    "axis_syntax_problem": ("{axis} axis: {reason}. Write {syntax}", "{axis}轴：{reason}。写法：{syntax}"),
    "axis_problem": ("{axis} axis: {allowed}{where}", "{axis}轴：{allowed}{where}"),
    "allowed_axis_kind": ("choose what the axis varies: one of {kinds}", "请选择这个轴改变什么：{kinds} 之一"),
    "axis_same_kind": (
        "the X axis already varies {axis}; pick another kind for Y, or none",
        "X 轴已经在改变{axis}；请为 Y 轴选别的类型，或不用 Y 轴",
    ),
    "axis_no_values": ("no values given", "没有给出任何值"),
    "axis_seed_count": (
        "a lone number is how many seeds to count up from the base seed, from 1 to {max}",
        "单独一个数表示从基础种子往上数几个种子，应在 1 到 {max} 之间",
    ),
    "axis_seed_count_or_list": (
        "a lone number is how many seeds to count up from the base seed, from 1 to {max}; to list seeds, separate "
        "them with commas ({n},)",
        "单独一个数表示从基础种子往上数几个种子，应在 1 到 {max} 之间；要列出种子，请用逗号分隔（{n},）",
    ),
    "axis_what_seed": ("seed", "种子"),
    "axis_what_number": ("number", "数"),
    "axis_what_whole_number": ("whole number", "整数"),
    "axis_not_a_size": ("{item} is not a size", "{item} 不是尺寸"),
    "axis_item_too_long": ("{item} is too long for a {what} or a range", "{item} 太长，不是{what}，也不是范围"),
    "axis_negative": ("{item} is negative; values start at 0", "{item} 是负数；取值从 0 开始"),
    "axis_range_without_end": ("{item} is a range without an end", "{item} 是没有终点的范围"),
    "axis_two_values": ("{item} holds two values; separate values with commas", "{item} 里有两个值；请用逗号分隔各个值"),
    "axis_bad_range": (
        "{item} is not a stepped range a-b (+s) or a counted range a-b [n]",
        "{item} 既不是带步长的范围 a-b (+s)，也不是指定个数的范围 a-b [n]",
    ),
    "axis_not_a_value": ("{item} is not a {what} or a range", "{item} 不是{what}，也不是范围"),
    "axis_not_finite": ("{item} is not a finite number", "{item} 不是有限的数"),
    "axis_not_whole": ("{text} is not a whole number", "{text} 不是整数"),
    "axis_not_whole_in": ("{text} in {item} is not a whole number", "{item} 中的 {text} 不是整数"),
    "axis_counted_too_few": (
        "{item} asks for {count} value(s); a counted range a-b [n] needs n of at least 2",
        "{item} 要 {count} 个值；指定个数的范围 a-b [n] 中 n 至少为 2",
    ),
    "axis_counted_too_many": ("{item} asks for {count} values; at most {max}", "{item} 要 {count} 个值；最多 {max} 个"),
    "axis_counted_collapses": (
        "{item} has only {distinct} different whole numbers between its ends; ask for fewer",
        "{item} 的两端之间只有 {distinct} 个不同的整数；请少要几个值",
    ),
    "axis_zero_step": ("{item} has a step of 0, which never reaches the end", "{item} 的步长为 0，永远到不了终点"),
    "axis_step_away": ("{item} steps {step}, away from {end}", "{item} 的步长 {step} 背离了终点 {end}"),
    "axis_stepped_too_many": ("{item} gives {count} values; at most {max}", "{item} 会得到 {count} 个值；最多 {max} 个"),
    "axis_unpaired_quotes": ("the quotes do not pair up ({error})", "引号没有配对（{error}）"),
    "axis_too_many_values": ("{count} values; at most {max}", "共 {count} 个值；最多 {max} 个"),
    "axis_given_twice": ("{value} is given twice; list each value once", "{value} 出现了两次；每个值只列一次"),
    "with_backend": (" (with {backend})", "（使用 {backend} 时）"),
    "allowed_with_backend": ("{allowed}{where}", "{allowed}{where}"),
    "grid_shape": ("{shape} = {cells} cells", "{shape} = {cells} 个格子"),
    "allowed_max_cells": ("at most {max} cells; shorten an axis", "最多 {max} 个格子；请缩短一个轴"),
    "grid_pixels": (
        "{cells} cells of {sizes:comma} = {pixels:,} pixels", "{cells} 个 {sizes:comma} 的格子 = {pixels:,} 像素",
    ),
    "allowed_max_pixels": (
        "at most {max:,} pixels in all ({fit} cells of {size} fit); use fewer cells or a smaller size",
        "总共最多 {max:,} 像素（{size} 最多 {fit} 个格子）；请减少格子或用更小的尺寸",
    ),
    "prompt_sr_missing": (
        "the first value {search} must occur in the prompt (or the negative prompt); it is searched for, and "
        "each value replaces it",
        "第一个值 {search} 必须出现在提示词（或负面提示词）中：先找到它，再依次换成每个值",
    ),
    "backend_listed_twice": ("{backend} is listed twice; list each backend once", "{backend} 出现了两次；每个服务只列一次"),
    "no_scheduler_setting": (
        "{backend} has no scheduler setting; compare schedulers on a backend that has",
        "{backend} 没有采样器设置；请在有采样器设置的服务上对比采样器",
    ),
    "sentences": ("{items:sentences}", "{items:sentences}"),
    "cell_not_started": ("Not started: the grid was stopped first.", "未开始：网格在此之前已停止。"),
    "cell_failed_unexpectedly": (
        "This cell failed unexpectedly ({error_type}). Try it again from the history.",
        "这个格子意外出错（{error_type}）。请在历史记录中重新生成它。",
    ),
}


class Message:
    """A sentence of :data:`MESSAGES` with its parameters. ``str()`` is the English text."""

    __slots__ = ("key", "params")

    def __init__(self, key: str, /, **params: Any) -> None:
        self.key = key
        self.params = params

    def render(self, lang: str = "en", *, quote: Callable[[str], str] | None = None) -> str:
        """The sentence in ``lang`` ("en" or "zh"); ``quote`` applied to each text parameter."""
        return render_quoted(self.key, lang, self.params, quote)

    def to_json(self) -> dict[str, Any]:
        """``{"key": ..., "params": {...}}`` with nested messages in the same form; :meth:`from_json` reverses it."""
        return {"key": self.key, "params": {name: _to_json(value) for name, value in self.params.items()}}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Message:
        params = data.get("params") or {}
        return cls(data["key"], **{name: _from_json(value) for name, value in params.items()})

    def __str__(self) -> str:
        return self.render("en")

    def __repr__(self) -> str:
        return f"Message({self.key!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Message) and self.to_json() == other.to_json()

    def __hash__(self) -> int:
        return hash(self.key)


def render(key: str, lang: str = "en", **params: Any) -> str:
    """The sentence ``key`` in ``lang`` with ``params`` filled in; a parameter may be a :class:`Message`, its
    JSON form, or a sequence of those (see the module docstring)."""
    return render_quoted(key, lang, params)


def render_quoted(key: str, lang: str, params: Mapping[str, Any], quote: Callable[[str], str] | None = None) -> str:
    """:func:`render` with ``quote`` applied to every text parameter (in nested messages and sequences too),
    never to the catalog's own words: for a sentence that goes into markup."""
    english, chinese = MESSAGES[key]
    chinese_wanted = lang.startswith("zh")
    template = chinese if chinese_wanted else english
    return template.format(**{name: _shown(value, chinese_wanted, quote) for name, value in params.items()})


def split(text: str | Message) -> tuple[str, str | None, dict[str, Any] | None]:
    """(the English text, the key, the JSON parameters) of a message; a plain string has no key."""
    if isinstance(text, Message):
        data = text.to_json()
        return str(text), data["key"], data["params"]
    return text, None, None


def keyed(text: str, key: str | None, params: Mapping[str, Any] | None) -> str | Message:
    """The :class:`Message` that ``key`` and ``params`` describe, or ``text`` when there is no (known) key."""
    if not key or key not in MESSAGES:
        return text
    return Message.from_json({"key": key, "params": params or {}})


def text_in(
    text: str, key: str | None, params: Mapping[str, Any] | None, lang: str, *, quote: Callable[[str], str] | None = None
) -> str:
    """What a stored message reads in ``lang``: ``key`` rendered, or ``text`` (its English, as stored) when the
    key is missing or unknown (history written by another version), or its parameters no longer fit. With
    ``quote``, its text parameters are quoted, or all of ``text`` when that is what is shown."""
    message = keyed(text, key, params)
    whole = quote(text) if quote is not None else text
    if not isinstance(message, Message):
        return whole
    try:
        return message.render(lang, quote=quote)
    except (KeyError, IndexError, ValueError, TypeError, AttributeError):
        return whole


class KeyedError:
    """For a frozen dataclass with ``error`` (str or None), ``error_key`` and ``error_params`` fields: given a
    :class:`Message` as ``error``, it keeps the English text in ``error`` and the key and parameters beside it,
    so the record stays plain data and still reads in either language."""

    error: str | None
    error_key: str | None
    error_params: dict[str, Any] | None

    def __post_init__(self) -> None:
        if isinstance(self.error, Message):
            text, key, params = split(self.error)
            object.__setattr__(self, "error", text)
            object.__setattr__(self, "error_key", key)
            object.__setattr__(self, "error_params", params)

    def error_in(self, lang: str, *, quote: Callable[[str], str] | None = None) -> str | None:
        """The error in ``lang`` ("en" or "zh"), ``quote`` applied to its text parameters; None (or empty)
        when there is none."""
        return text_in(self.error, self.error_key, self.error_params, lang, quote=quote) if self.error else self.error


def field_label(field: str) -> str | Message:
    """A request field as a person reads it: its own message where there is one, else its name."""
    key = f"field_{field}"
    return Message(key) if key in MESSAGES else field


_SEPARATORS = {  # a sequence placeholder's format spec: (English, Chinese) separator
    "": ("; ", "；"),
    "comma": (", ", "、"),
    "sentences": (" ", ""),
}


class _Joined:
    """A sequence parameter: formatted with the separator its placeholder asks for."""

    def __init__(self, items: list[str], chinese: bool) -> None:
        self.items = items
        self.chinese = chinese

    def __format__(self, spec: str) -> str:
        if spec == "lines":
            return "\n".join(f"- {item}" for item in self.items)
        if spec == "or":
            return either(self.items, "zh" if self.chinese else "en")
        english, chinese = _SEPARATORS[spec]
        return (chinese if self.chinese else english).join(self.items)


def either(items: Sequence[str], lang: str = "en") -> str:
    """"a, b or c" in English, "a、b 或 c" in Chinese: one of ``items`` to choose."""
    *rest, last = items or [""]
    if not rest:
        return last
    return f"{'、'.join(rest)} 或 {last}" if lang.startswith("zh") else f"{', '.join(rest)} or {last}"


def _shown(value: Any, chinese: bool, quote: Callable[[str], str] | None = None) -> Any:
    lang = "zh" if chinese else "en"
    if isinstance(value, Message):
        return value.render(lang, quote=quote)
    if isinstance(value, Mapping) and "key" in value:
        return Message.from_json(value).render(lang, quote=quote)
    if isinstance(value, Sequence) and not isinstance(value, str):
        return _Joined([str(_shown(item, chinese, quote)) for item in value], chinese)
    if isinstance(value, str) and quote is not None:
        return quote(value)
    return value


def _to_json(value: Any) -> Any:
    if isinstance(value, Message):
        return value.to_json()
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [_to_json(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def _from_json(value: Any) -> Any:
    if isinstance(value, Mapping) and "key" in value:
        return Message.from_json(value)
    if isinstance(value, list):
        return tuple(_from_json(item) for item in value)
    return value
