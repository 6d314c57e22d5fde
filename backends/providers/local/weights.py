"""Where Kolors' weights are, and fetching them from the Hugging Face Hub only when someone said yes.

``KOLORS_MODEL`` is a folder (used as it is) or a Hub id. A Hub id is looked up in the local Hugging Face
cache with huggingface_hub's own cache functions (:func:`cached_snapshot`), and counts as there only when
every part of the pipeline is complete. Nothing here downloads except :func:`download`, which the backend
calls only with consent: ``download=true`` through the API, the page's confirmation, or ``KOLORS_PRELOAD=1``.

A download fetches what loading will read and nothing else (:func:`select_files`: the fp16 weights on a GPU,
the full-precision ones on the CPU, safetensors before pickles), one file at a time through
``huggingface_hub.hf_hub_download``. That writes each file to a temporary name and moves it into the cache
only once complete, so a stopped download leaves nothing that passes for a finished file. Progress (bytes
and rate) and Stop go through its ``tqdm_class`` hook.

huggingface_hub reads ``HF_ENDPOINT``, ``HF_HUB_CACHE`` / ``HF_HOME`` and ``HF_HUB_OFFLINE`` itself;
:class:`Hub` overrides the endpoint and the cache folder (tests point them at a fake Hub and a temporary
folder).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ...base import StepProgress
from ...errors import BackendUnavailable, DownloadRequired, GenerationCancelled
from ...messages import Message
from .memory import KOLORS_PARAMETERS
from .settings import ENV_MODEL, ENV_PRELOAD, LocalSettings
from .sizes import human_size, rate

__all__ = [
    "DownloadPlan",
    "Hub",
    "cached_snapshot",
    "download",
    "download_required",
    "missing_parts",
    "plan_download",
    "select_files",
    "variant_for",
]

logger = logging.getLogger(__name__)

REVISION = "main"
PROGRESS_EVERY_S = 0.25
"""How often download progress is reported at most (huggingface_hub reports every 10 MB chunk)."""

_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".ckpt", ".pt", ".pth", ".msgpack", ".onnx", ".h5", ".gguf")
_WEIGHTS_INDEX = re.compile(r"\.(safetensors|bin)\.index(\.[\w-]+)?\.json$")
_SHARD = re.compile(r"-\d{5}-of-\d{5}")
_PART_CONFIGS = ("config.json", "scheduler_config.json", "tokenizer_config.json", "preprocessor_config.json")
_DOWNLOAD_LOCK = threading.Lock()
_LOCK_POLL_S = 0.1


class _Cancellable(Protocol):
    @property
    def cancelled(self) -> bool: ...


@dataclass(frozen=True)
class Hub:
    """Which Hub to ask and which cache to use; None keeps huggingface_hub's own (HF_ENDPOINT, HF_HUB_CACHE)."""

    endpoint: str | None = None
    cache_dir: Path | None = None
    timeout_s: float = 10.0

    @property
    def cache(self) -> Path:
        from huggingface_hub import constants

        return Path(self.cache_dir if self.cache_dir is not None else constants.HF_HUB_CACHE).expanduser()

    @property
    def offline(self) -> bool:
        from huggingface_hub import constants

        return bool(constants.is_offline_mode())

    def destination(self, repo_id: str) -> Path:
        """The cache folder a download of ``repo_id`` goes to."""
        from huggingface_hub.file_download import repo_folder_name

        return self.cache / repo_folder_name(repo_id=repo_id, repo_type="model")


def variant_for(dtype: str) -> str | None:
    """Kolors' Hub repo ships ``*.fp16.*`` weights for GPUs; the CPU loads the full-precision ones."""
    return "fp16" if dtype == "float16" else None


# -- what is here ---------------------------------------------------------------------------------


def cached_snapshot(repo_id: str, hub: Hub) -> Path | None:
    """The cached snapshot of ``repo_id`` when it holds a complete pipeline, else None. Reads the disk only."""
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(repo_id, "model_index.json", cache_dir=hub.cache, revision=REVISION)
    if not isinstance(found, str):
        return None
    folder = Path(found).parent
    return folder if missing_parts(folder) is None else None


def missing_parts(folder: Path) -> Message | None:
    """Why ``folder`` is not a complete diffusers pipeline (a part or its weights missing), or None."""
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Message("parts_index_missing")
    except (OSError, ValueError) as exc:
        return Message("parts_index_unreadable", error=str(exc))
    for name, spec in index.items():
        if name.startswith("_") or not isinstance(spec, list) or not spec or spec[0] is None:
            continue
        part = folder / name
        if not part.is_dir():
            return Message("parts_folder_missing", name=name)
        if (part / "config.json").is_file() and not _has_complete_weights(part):
            return Message("parts_weights_incomplete", name=name)
    return None


def _has_complete_weights(part: Path) -> bool:
    names = {p.name for p in part.iterdir() if p.is_file()}
    for name in names:
        if _WEIGHTS_INDEX.search(name):
            try:
                shards = set(json.loads((part / name).read_text(encoding="utf-8"))["weight_map"].values())
            except (OSError, ValueError, KeyError, TypeError, AttributeError):
                continue
            if shards and shards <= names:
                return True
        elif name.endswith(_WEIGHT_SUFFIXES) and not _SHARD.search(name):
            return True
    return False


# -- what a download takes ------------------------------------------------------------------------


def select_files(listing: Mapping[str, int], variant: str | None) -> dict[str, int]:
    """The files of a Hub listing (path -> size) that loading the pipeline reads.

    ``model_index.json`` and every file of the parts (folders with weights or a config), except weights the
    load will not use: per part the ``variant`` (``fp16``) weights where the part has them, else the
    full-precision ones; safetensors before pickles within either.
    """
    folders = {path.split("/", 1)[0] for path in listing if path.count("/") == 1}
    chosen = {path: size for path, size in listing.items() if path == "model_index.json"}
    for part in sorted(folders):
        files = {path: size for path, size in listing.items() if path.startswith(part + "/") and path.count("/") == 1}
        weights = {path: size for path, size in files.items() if _is_weights(path)}
        if not weights and not any(path.endswith(_PART_CONFIGS) for path in files):
            continue  # not a part of the pipeline (sample images, docs)
        chosen.update({path: size for path, size in files.items() if path not in weights})
        chosen.update(
            (variant is not None and _first_kind(weights, lambda path: _is_variant(path, variant)))
            or _first_kind(weights, lambda path: not _is_any_variant(path))
            or _first_kind(weights, lambda path: True)
        )
    return chosen


def _first_kind(weights: Mapping[str, int], wanted: Callable[[str], bool]) -> dict[str, int]:
    """The ``wanted`` weights in the first format that has any: safetensors, then pickles."""
    for kind in ("safetensors", "bin"):
        group = {path: size for path, size in weights.items() if _weights_kind(path) == kind and wanted(path)}
        if group:
            return group
    return {}


def _is_weights(path: str) -> bool:
    return path.endswith(_WEIGHT_SUFFIXES) or bool(_WEIGHTS_INDEX.search(path))


def _weights_kind(path: str) -> str:
    name = path.rsplit("/", 1)[-1]
    if name.endswith(".safetensors") or ".safetensors.index" in name:
        return "safetensors"
    if name.endswith(".bin") or ".bin.index" in name:
        return "bin"
    return "other"


def _is_variant(path: str, variant: str | None) -> bool:
    name = path.rsplit("/", 1)[-1]
    return variant is not None and (f".{variant}." in name or f".{variant}-" in name)


def _is_any_variant(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return bool(re.search(r"\.(fp16|bf16|fp32|non_ema|ema)[.-]", name))


@dataclass(frozen=True)
class DownloadPlan:
    """What getting ``repo_id`` takes: ``files`` (path, size) to fetch, ``size_bytes`` of them not yet cached.

    ``from_hub`` False: the Hub could not be asked (``reason`` says why) and ``size_bytes`` is Kolors'
    documented figure; such a plan can be shown, not downloaded.
    """

    repo_id: str
    variant: str | None
    files: tuple[tuple[str, int], ...]
    size_bytes: int
    from_hub: bool
    destination: Path
    commit: str = ""
    reason: str | Message = ""

    @property
    def size_source(self) -> Message:
        if self.from_hub:
            return Message("size_from_hub")
        return Message("size_documented", reason=self.reason)


def plan_download(repo_id: str, *, variant: str | None, hub: Hub) -> DownloadPlan:
    """What downloading ``repo_id`` would fetch: from the Hub's file list, else Kolors' documented size.

    Raises BackendUnavailable when the Hub says there is no such model (or it needs a token).
    """
    destination = hub.destination(repo_id)
    try:
        commit, listing = _hub_listing(repo_id, hub)
    except BackendUnavailable:
        raise
    except Exception as exc:  # offline, unreachable, timed out: say the documented size instead
        reason = Message("hub_offline") if hub.offline else f"{type(exc).__name__}: {_brief(exc)}"
        return DownloadPlan(
            repo_id, variant, (), _documented_bytes(variant), from_hub=False, destination=destination, reason=reason
        )
    files = select_files(listing, variant)
    snapshot = destination / "snapshots" / commit
    missing = {path: size for path, size in files.items() if not (snapshot / path).is_file()}
    return DownloadPlan(
        repo_id, variant, tuple(sorted(files.items())), sum(missing.values()), from_hub=True,
        destination=destination, commit=commit,
    )


def _documented_bytes(variant: str | None) -> int:
    bytes_per_parameter = 2 if variant == "fp16" else 4
    return sum(parameters for _, _, parameters in KOLORS_PARAMETERS) * bytes_per_parameter


def _hub_listing(repo_id: str, hub: Hub) -> tuple[str, dict[str, int]]:
    from huggingface_hub import HfApi
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError

    try:
        info = HfApi(endpoint=hub.endpoint).model_info(
            repo_id, revision=REVISION, files_metadata=True, timeout=hub.timeout_s
        )
    except GatedRepoError:
        raise BackendUnavailable(Message("hub_gated", env=ENV_MODEL, repo=repo_id)) from None
    except RepositoryNotFoundError:
        raise BackendUnavailable(Message("hub_not_found", env=ENV_MODEL, repo=repo_id)) from None
    if not info.sha:
        raise OSError("the Hub did not say which commit it serves")
    return info.sha, {sibling.rfilename: int(sibling.size or 0) for sibling in info.siblings or ()}


def download_required(plan: DownloadPlan, *, offline: bool = False) -> BackendUnavailable:
    """The error that asks for consent, naming the size and the destination (or says why none can help)."""
    where = f"{plan.destination}"
    size = human_size(plan.size_bytes)
    if offline:
        return BackendUnavailable(
            Message("download_offline", repo=plan.repo_id, destination=where, size=size, env=ENV_MODEL)
        )
    free = _free_disk(plan.destination)
    if free is not None and free < plan.size_bytes:
        return BackendUnavailable(
            Message("download_no_disk", repo=plan.repo_id, size=size, destination=where, free=human_size(free))
        )
    free_note = Message("download_free_note", free=human_size(free)) if free is not None else ""
    return DownloadRequired(
        Message(
            "download_required", size=size, source=plan.size_source, repo=plan.repo_id, destination=where,
            free_note=free_note, env=ENV_PRELOAD,
        ),
        size_bytes=plan.size_bytes,
        destination=where,
        size_source="hub" if plan.from_hub else "documented",
    )


def _free_disk(path: Path) -> int | None:
    for folder in (path, *path.parents):
        if folder.exists():
            try:
                return shutil.disk_usage(folder).free
            except OSError:
                return None
    return None


# -- downloading ----------------------------------------------------------------------------------

ProgressCallback = Callable[[StepProgress], None]


def download(
    settings: LocalSettings,
    *,
    variant: str | None,
    hub: Hub,
    progress: ProgressCallback | None = None,
    cancel: _Cancellable | None = None,
) -> Path:
    """Download what loading ``settings.model`` needs into the cache; return the snapshot folder.

    Reports ``StepProgress(bytes done, bytes total, "Downloading the Kolors weights: 3.2 of 16.6 GB at 45
    MB/s")``. Stop raises GenerationCancelled within one chunk; the file being fetched is dropped, and the
    files finished before it stay in the cache for next time. One download at a time per process.
    """
    repo_id = settings.model
    while not _DOWNLOAD_LOCK.acquire(timeout=_LOCK_POLL_S):
        if cancel is not None and cancel.cancelled:
            raise GenerationCancelled()
    try:
        done = cached_snapshot(repo_id, hub)
        if done is not None:  # another job finished it while this one waited
            return done
        if hub.offline:
            raise download_required(plan_download(repo_id, variant=variant, hub=hub), offline=True)
        plan = plan_download(repo_id, variant=variant, hub=hub)
        if not plan.from_hub:
            raise BackendUnavailable(Message("hub_unreachable", repo=repo_id, reason=plan.reason, env=ENV_MODEL))
        refusal = download_required(plan)
        if not isinstance(refusal, DownloadRequired):
            raise refusal  # not enough disk: consent does not help
        return _fetch(plan, hub, progress, cancel)
    finally:
        _DOWNLOAD_LOCK.release()


def _fetch(plan: DownloadPlan, hub: Hub, progress: ProgressCallback | None, cancel: _Cancellable | None) -> Path:
    from huggingface_hub import hf_hub_download

    meter = _Meter(plan.size_bytes, progress, cancel)
    logger.info("Downloading %s of Kolors weights (%s) into %s.", human_size(plan.size_bytes), plan.repo_id, plan.destination)
    meter.report(force=True)
    snapshot = plan.destination / "snapshots" / plan.commit
    for path, _size in plan.files:
        meter.check()
        if (snapshot / path).is_file():
            continue
        hf_hub_download(
            plan.repo_id, path, revision=plan.commit, cache_dir=hub.cache, endpoint=hub.endpoint,
            tqdm_class=meter.bar_class,
        )
    # Asked by branch name once more, so the cache's refs/main points at this snapshot for the next start.
    hf_hub_download(plan.repo_id, "model_index.json", revision=REVISION, cache_dir=hub.cache, endpoint=hub.endpoint)
    meter.report(force=True)
    problem = missing_parts(snapshot)
    if problem:
        raise BackendUnavailable(Message("download_incomplete", repo=plan.repo_id, problem=problem))
    logger.info("Downloaded Kolors weights in %.0f s.", time.monotonic() - meter.started)
    return snapshot


class _Meter:
    """Adds up the bytes huggingface_hub reports, reports them with the rate, and stops on Stop."""

    def __init__(self, total: int, progress: ProgressCallback | None, cancel: _Cancellable | None) -> None:
        self.total = total
        self.done = 0
        self.started = time.monotonic()
        self._progress = progress
        self._cancel = cancel
        self._reported_at = 0.0
        self.bar_class = _bar_class(self)

    def check(self) -> None:
        if self._cancel is not None and self._cancel.cancelled:
            raise GenerationCancelled()

    def add(self, count: float) -> None:
        self.check()
        self.done += int(count)
        self.report()

    def report(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if self._progress is None or (not force and now - self._reported_at < PROGRESS_EVERY_S):
            return
        self._reported_at = now
        elapsed = now - self.started
        shown_total = max(self.total, self.done)
        sizes = {"done": human_size(self.done), "total": human_size(shown_total)}
        phase = (Message("phase_download_rate", **sizes, rate=rate(self.done / elapsed)) if self.done and elapsed > 0
                 else Message("phase_download", **sizes))
        self._progress(StepProgress(done=min(self.done, shown_total), total=shown_total, phase=phase))


def _bar_class(meter: _Meter) -> type:
    """A class huggingface_hub can use as ``tqdm_class``: it counts bytes written, and raises on Stop.

    Defining ``update_transfer`` makes huggingface_hub feed network bytes to the same object (Xet downloads),
    where they are ignored: only bytes written to disk count.
    """

    class MeterBar:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.n = kwargs.get("initial") or 0
            self.total = kwargs.get("total")
            if self.n:
                meter.add(self.n)

        def update(self, count: float | None = 1) -> None:
            self.n += count or 0
            meter.add(count or 0)

        def update_transfer(self, count: float | None = 1) -> None:
            meter.check()

        def __enter__(self) -> MeterBar:
            return self

        def __exit__(self, *exc_info: object) -> None:
            return None

        def close(self) -> None:
            return None

        def refresh(self, *args: Any, **kwargs: Any) -> None:
            return None

        def set_description(self, *args: Any, **kwargs: Any) -> None:
            return None

        set_description_str = set_postfix_str = set_transfer_postfix_str = set_postfix = set_description

    return MeterBar


def _brief(exc: BaseException, limit: int = 200) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
