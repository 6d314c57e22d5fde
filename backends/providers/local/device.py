"""Where the local pipeline would run: CUDA, Apple MPS, Intel XPU or the CPU, found once and kept.

Finding a GPU needs torch, and importing torch costs seconds and ~200 MB of memory. So the answer is
found once per process, in a background thread (:meth:`DeviceDetection.start`, called when the app
starts), and read without blocking afterwards (:meth:`DeviceDetection.peek`). The probe itself runs torch in
a short-lived child process: the app learns its device without carrying torch until it first generates
locally (a playground used only with hosted backends never does). ``KOLORS_DEVICE=cpu`` needs no torch at
all, and on a ZeroGPU Space the device is known without asking (the GPU is attached per call there).

Tests hand in the figures: ``DeviceDetection.fixed(DeviceInfo("cuda", name=..., total_bytes=...))``.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass

from ...errors import BackendUnavailable
from ...messages import Message
from .settings import ENV_DEVICE
from .sizes import human_size

__all__ = ["DEVICES", "DeviceDetection", "DeviceInfo", "DeviceProbe", "available_ram", "probe_device", "total_ram"]

logger = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 120
"""A cold torch import on a slow disk can take a minute; a probe that takes longer is treated as failed."""


@dataclass(frozen=True)
class DeviceInfo:
    """A device the pipeline can run on, with the figures the page and the memory check need.

    ``kind`` is ``cuda``, ``mps``, ``xpu`` or ``cpu``; ``name`` the card's name ("NVIDIA GeForce RTX 4090");
    ``total_bytes`` its own memory (CUDA, XPU), the unified memory (MPS) or the RAM (CPU), None if unknown.
    """

    kind: str
    name: str = ""
    index: int | None = None
    total_bytes: int | None = None
    zero_gpu: bool = False

    @property
    def torch_device(self) -> str:
        """What torch calls it: ``cuda:0``, ``mps``, ``cpu``."""
        if self.kind in ("cuda", "xpu") and self.index is not None:
            return f"{self.kind}:{self.index}"
        return self.kind

    @property
    def runs_on_cpu(self) -> bool:
        return self.kind == "cpu"

    @property
    def dtype(self) -> str:
        """The precision the pipeline loads in here: float16 on a GPU, float32 on the CPU."""
        return "float32" if self.runs_on_cpu else "float16"

    @property
    def short_name(self) -> str:
        """The card's name without the vendor's brand words: "RTX 4090", "H200", "A10G"."""
        name = self.name
        for prefix in ("NVIDIA ", "GeForce ", "Intel(R) ", "Intel "):
            name = name.removeprefix(prefix)
        return name.strip()

    def describe(self) -> str:
        """One line for facts and logs: "CUDA, RTX 4090, 24 GB", "Apple MPS, 32 GB unified memory", "CPU, 16 GB RAM"."""
        return str(self.description())

    def description(self) -> str | Message:
        """:meth:`describe`, as a message where it has words to translate."""
        if self.zero_gpu:
            return Message("device_zero_gpu")
        total = human_size(self.total_bytes, whole=True) if self.total_bytes else None
        if self.kind == "cuda":
            return ", ".join(part for part in ("CUDA", self.short_name, total) if part)
        if self.kind == "xpu":
            return ", ".join(part for part in ("Intel XPU", self.short_name, total) if part)
        if self.kind == "mps":
            return Message("device_mps_memory", total=total) if total else "Apple MPS"
        return Message("device_cpu_ram", total=total) if total else "CPU"


DeviceProbe = Callable[[str | None, bool], DeviceInfo]
"""``probe(requested, zero_gpu) -> DeviceInfo``; raises BackendUnavailable when the requested device is absent."""


class DeviceDetection:
    """Finds the device once per ``KOLORS_DEVICE`` value and keeps the answer (or the reason there is none).

    :meth:`start` begins in a background thread and returns at once; :meth:`result` waits for the answer
    (blocking: call it off the event loop); :meth:`peek` never waits.
    """

    def __init__(self, probe: DeviceProbe | None = None) -> None:
        self._probe = probe or probe_device
        self._lock = threading.Lock()
        self._answers: dict[tuple[str | None, bool], Future[DeviceInfo]] = {}
        self.probes = 0
        """How many times the probe ran (for tests: once per setting)."""

    @classmethod
    def fixed(cls, device: DeviceInfo) -> DeviceDetection:
        """A detection that answers ``device`` whatever is asked (tests, or a host that knows its device)."""
        return cls(lambda requested, zero_gpu: device)

    def start(self, requested: str | None, *, zero_gpu: bool = False) -> Future[DeviceInfo]:
        key = (requested, zero_gpu)
        with self._lock:
            answer = self._answers.get(key)
            if answer is None:
                answer = self._answers[key] = Future()
                self.probes += 1
                threading.Thread(
                    target=self._run, args=(answer, requested, zero_gpu), name="kolors-device-probe", daemon=True
                ).start()
        return answer

    def result(self, requested: str | None, *, zero_gpu: bool = False, timeout: float | None = None) -> DeviceInfo:
        """The device (waiting for the probe if it is still running). Raises BackendUnavailable."""
        return self.start(requested, zero_gpu=zero_gpu).result(timeout)

    def peek(self, requested: str | None, *, zero_gpu: bool = False) -> DeviceInfo | None:
        """The device if it is known already, else None (still probing, not started, or no such device)."""
        answer = self._answers.get((requested, zero_gpu))
        if answer is None or not answer.done() or answer.exception() is not None:
            return None
        return answer.result()

    def _run(self, answer: Future[DeviceInfo], requested: str | None, zero_gpu: bool) -> None:
        try:
            device = self._probe(requested, zero_gpu)
        except BackendUnavailable as exc:
            answer.set_exception(exc)
        except Exception as exc:  # a broken torch install must not leave the page waiting forever
            logger.warning("Could not find the device for Kolors", exc_info=True)
            answer.set_exception(
                BackendUnavailable(Message("device_unknown", error_type=type(exc).__name__, error=str(exc)))
            )
        else:
            logger.info("Kolors would run on %s.", device.describe())
            answer.set_result(device)


# -- the probe ------------------------------------------------------------------------------------

_PROBE_SCRIPT = r"""
import json, os, sys
if hasattr(os, "nice"):
    os.nice(10)  # the page is starting at the same time: let it have the CPU first
import torch

kind, _, index = sys.argv[1].partition(":")
index = int(index) if index else None
mps = getattr(torch.backends, "mps", None)
present = {
    "cuda": torch.cuda.is_available(),
    "mps": bool(mps and mps.is_available()),
    "xpu": bool(hasattr(torch, "xpu") and torch.xpu.is_available()),
    "cpu": True,
}
if not kind:
    kind = "cuda" if present["cuda"] else "mps" if present["mps"] else "cpu"
found = {"kind": kind, "present": present[kind], "torch": torch.__version__}
if present[kind] and kind in ("cuda", "xpu"):
    module = getattr(torch, kind)
    found["count"] = module.device_count()
    index = module.current_device() if index is None else index
    if index < found["count"]:
        properties = module.get_device_properties(index)
        found.update(index=index, name=properties.name, total=properties.total_memory)
    else:
        found["present"] = False
print(json.dumps(found))
"""


def probe_device(requested: str | None, zero_gpu: bool = False) -> DeviceInfo:
    """Where Kolors would run for ``KOLORS_DEVICE=requested`` (None: CUDA, then MPS, then the CPU). Blocking."""
    if requested == "cpu":
        return DeviceInfo("cpu", total_bytes=total_ram())
    if zero_gpu:
        return DeviceInfo("cuda", name="ZeroGPU", index=None, zero_gpu=True)
    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE_SCRIPT, requested or ""],
            capture_output=True, text=True, timeout=PROBE_TIMEOUT_S, check=False,
        )
    except subprocess.TimeoutExpired:
        raise BackendUnavailable(Message("device_probe_timeout", seconds=PROBE_TIMEOUT_S, env=ENV_DEVICE)) from None
    if done.returncode != 0:
        last_line = (done.stderr.strip().splitlines() or ["no message"])[-1]
        raise BackendUnavailable(Message("device_probe_failed", error=last_line))
    found = json.loads(done.stdout.strip().splitlines()[-1])
    return _device_from_probe(requested, found)


def _device_from_probe(requested: str | None, found: dict) -> DeviceInfo:
    kind = found["kind"]
    if not found["present"]:
        count = found.get("count")
        seen: str | Message = ""
        if count is not None:
            seen = Message("device_seen_one", kind=kind) if count == 1 else Message("device_seen", count=count, kind=kind)
        raise BackendUnavailable(
            Message("device_absent", env=ENV_DEVICE, requested=requested, version=found.get("torch", ""), seen=seen)
        )
    if kind in ("cuda", "xpu"):
        return DeviceInfo(kind, name=found.get("name", ""), index=found.get("index"), total_bytes=found.get("total"))
    return DeviceInfo(kind, total_bytes=total_ram())  # MPS shares the machine's memory


def total_ram() -> int | None:
    try:
        import psutil
    except ImportError:
        return _meminfo("MemTotal")
    return int(psutil.virtual_memory().total)


def available_ram() -> int | None:
    """Memory the system can give without swapping (Linux's MemAvailable), None if unknown."""
    try:
        import psutil
    except ImportError:
        return _meminfo("MemAvailable")
    return int(psutil.virtual_memory().available)


def _meminfo(field: str) -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


DEVICES = DeviceDetection()
"""The process's detection, shared by every :class:`~backends.providers.local.LocalBackend` by default."""
