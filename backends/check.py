"""``python app.py --check``: can each configured backend generate, and does its seed mean anything?

Every backend is checked at the same time as the others, each in these steps:

1. Available here (a key set, the packages installed)? If not, it is skipped with what to set.
2. ``readiness()``, where the backend has it: its facts are reported; a problem fails the check; when
   it says a generation must not be tried (a download, a cost), none is.
3. The cheapest generation the backend allows (its smallest size, one image, its fewest steps): the
   server is reachable, the key accepted, an image comes back.
4. With ``seeds``: the same seed again must give the same pixels and the next seed other pixels; a
   backend that keeps a batch in one request must give, as image 2 of a batch, the image its seed
   gives alone. Pixels are compared decoded, so a re-encoded but equal image still counts as equal.

A paid backend (one with a price per image, or a hosted provider) generates only when allowed;
otherwise only its address is tried, and the result is "unverified" (reachable, key not verified): a
wrong key or model passes an address check, so it is never reported "ok". The caller decides how to ask
(``--yes``, a prompt, or not at all) and whether unverified fails (``strict``, ``--strict``).
"""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import httpx
from PIL import Image, ImageChops, ImageStat

from .base import Backend, Capabilities, GenerationRequest, HasReadiness, KeyedBackend, Readiness
from .errors import AuthenticationFailed, PlaygroundError, ProviderUnreachable
from .providers.http import shared_tls_context
from .providers.openai_compatible import OpenAICompatibleBackend
from .providers.xinference import XinferenceBackend
from .seeds import highest_seed
from .validation import validate_request

__all__ = [
    "CheckResult",
    "cheapest_request",
    "check_backend",
    "check_backends",
    "is_paid",
    "pixel_difference",
    "run_check",
]

CHECK_PROMPT = "a red apple on a wooden table"
CHECK_SEED = 1234
SAME_PIXELS_BELOW = 1.0
"""Mean absolute difference per channel (0-255) under which two images count as the same picture."""

Status = Literal["ok", "unverified", "failed", "skipped"]


@dataclass(frozen=True)
class CheckResult:
    """What the check found for one backend: ``findings`` in the order found, and its wall time. ``unverified``:
    no image was generated, so the key (and the model, the answer's form) are not known to work."""

    backend_id: str
    label: str
    status: Status
    findings: tuple[str, ...]
    elapsed_s: float

    def line(self) -> str:
        mark = {"ok": "ok     ", "unverified": "unverified", "failed": "FAILED ", "skipped": "skipped"}[self.status]
        return f"{mark} {self.backend_id} ({self.label}): {'; '.join(self.findings)} [{self.elapsed_s:.1f} s]"


def is_paid(backend: Backend) -> bool:
    """Whether a generation on ``backend`` may cost money."""
    return backend.capabilities.paid


def cheapest_request(capabilities: Capabilities, *, seed: int = CHECK_SEED, n: int = 1) -> GenerationRequest:
    """The smallest, fastest request ``capabilities`` accept: least pixels, ``n`` images, fewest steps."""
    if capabilities.sizes:
        width, height = min(capabilities.sizes, key=lambda size: (size[0] * size[1], size))
    else:
        low, _ = capabilities.size_range  # type: ignore[misc]
        multiple = capabilities.size_multiple
        width = height = -(-low // multiple) * multiple
    seed = min(seed, max(highest_seed(capabilities.seed_max, n), 0))
    values = {"prompt": CHECK_PROMPT, "size": f"{width}x{height}", "n": n, "seed": seed, "steps": capabilities.steps[0]}
    return validate_request(values, capabilities)


def pixel_difference(first: bytes, second: bytes) -> float:
    """Mean absolute difference per channel (0-255) of two encoded images; 255 if their sizes differ."""
    with Image.open(io.BytesIO(first)) as a, Image.open(io.BytesIO(second)) as b:
        a_rgb, b_rgb = a.convert("RGB"), b.convert("RGB")
    if a_rgb.size != b_rgb.size:
        return 255.0
    means = ImageStat.Stat(ImageChops.difference(a_rgb, b_rgb)).mean
    return sum(means) / len(means)


class _Failed(Exception):
    """A finding that fails the check; its text is the finding."""


async def check_backend(backend: Backend, *, seeds: bool = False, generate: bool = True) -> CheckResult:
    """Check one backend (steps 1-4 above). ``generate`` False: try its address only (a paid backend
    the person did not allow)."""
    started = time.perf_counter()
    findings: list[str] = []
    status: Status = "ok"
    try:
        availability = backend.availability()
        if not availability.available:
            return CheckResult(backend.id, backend.label, "skipped", (availability.reason,), time.perf_counter() - started)
        readiness = await _readiness(backend)
        findings.extend(readiness.facts)
        if readiness.problem:
            raise _Failed(readiness.problem)
        if not readiness.can_generate:
            findings.append("no generation tried (it would download or cost too much)")
            status = "unverified"
        elif not generate:
            findings.append(await _reach(backend))
            findings.append("paid: no image generated (run with --yes to allow it)")
            status = "unverified"
        else:
            await _generate_and_compare(backend, seeds=seeds, findings=findings)
    except _Failed as exc:
        findings.append(str(exc))
        status = "failed"
    except Exception as exc:  # a check reports; it never dies with a traceback
        findings.append(f"failed unexpectedly: {type(exc).__name__}: {exc}")
        status = "failed"
    return CheckResult(backend.id, backend.label, status, tuple(findings), time.perf_counter() - started)


async def _readiness(backend: Backend) -> Readiness:
    if not isinstance(backend, HasReadiness):
        return Readiness()
    return await asyncio.to_thread(backend.readiness)


async def _reach(backend: Backend) -> str:
    base_url = backend.base_url if isinstance(backend, KeyedBackend) else None
    if not base_url:
        return "address not tried (not an HTTP backend), key not verified"
    try:
        async with httpx.AsyncClient(timeout=10.0, verify=shared_tls_context()) as client:
            answer = await client.get(base_url)
    except httpx.HTTPError as exc:
        raise _Failed(f"unreachable: {base_url} did not answer ({type(exc).__name__})") from exc
    return f"reachable, key not verified (HTTP {answer.status_code} at {base_url})"


async def _generate_and_compare(backend: Backend, *, seeds: bool, findings: list[str]) -> None:
    request = cheapest_request(backend.capabilities)
    first, seconds = await _one_image(backend, request)
    key = "key accepted, " if isinstance(backend, KeyedBackend) and backend.key_env_var else ""
    findings.append(f"reachable, {key}{request.size} image in {seconds:.1f} s")
    if not seeds:
        return
    again, _ = await _one_image(backend, request)
    difference = pixel_difference(first, again)
    if difference >= SAME_PIXELS_BELOW:
        raise _Failed(
            f"seed ignored: the same seed gave different images (mean pixel difference {difference:.1f}). "
            f"{_seed_fix(backend)}"
        )
    other, _ = await _one_image(backend, cheapest_request(backend.capabilities, seed=request.seed + 1))
    if pixel_difference(first, other) < SAME_PIXELS_BELOW:
        raise _Failed("seed has no effect: another seed gave the same image. The server does not use the seed.")
    findings.append("same seed, same pixels; next seed, other pixels")
    caps = backend.capabilities
    if caps.batch_is_per_image_reproducible and caps.max_images >= 2:
        batch = cheapest_request(caps, n=2)
        output = await _call(backend, batch)
        if len(output) != 2:
            raise _Failed(f"a batch of 2 gave {len(output)} image(s)")
        if pixel_difference(output[0], first) >= SAME_PIXELS_BELOW or pixel_difference(output[1], other) >= SAME_PIXELS_BELOW:
            raise _Failed(
                "batch not reproducible: image 2 of a batch is not the image its seed gives alone. "
                "Generations on this backend cannot be remade image by image."
            )
        findings.append("batch image 2 = its seed alone")


async def _one_image(backend: Backend, request: GenerationRequest) -> tuple[bytes, float]:
    started = time.perf_counter()
    (image,) = await _call(backend, request)
    return image, time.perf_counter() - started


async def _call(backend: Backend, request: GenerationRequest) -> list[bytes]:
    try:
        output = await backend.generate(request)
    except AuthenticationFailed as exc:
        raise _Failed(f"key refused: {exc}") from exc
    except ProviderUnreachable as exc:
        raise _Failed(f"unreachable: {exc}") from exc
    except PlaygroundError as exc:
        raise _Failed(f"generation failed: {exc}") from exc
    images = [image.data for image in output.images]
    if len(images) != request.n:
        raise _Failed(f"asked for {request.n} image(s), got {len(images)}")
    return images


def _seed_fix(backend: Backend) -> str:
    if isinstance(backend, XinferenceBackend):
        return "Xinference answered but did not apply the seed; check the model's pipeline."
    if isinstance(backend, OpenAICompatibleBackend):
        if not backend.extensions:
            return 'Fix: set extensions = true in its [[backend]] entry (and dialect = "xinference" for an Xinference server).'
        return 'Fix: if this is an Xinference server, set dialect = "xinference" in its [[backend]] entry.'
    return "The provider does not honour seeds: its images cannot be made again from their seed."


async def check_backends(
    backends: Sequence[Backend], *, seeds: bool = False, allow_paid: bool = False
) -> list[CheckResult]:
    """Check every backend at once; results in the order given."""
    return list(
        await asyncio.gather(
            *(check_backend(b, seeds=seeds, generate=allow_paid or not is_paid(b)) for b in backends)
        )
    )


def run_check(
    backends: Sequence[Backend],
    *,
    seeds: bool = False,
    yes: bool = False,
    ask: Callable[[str], bool] | None = None,
    out: Callable[[str], None] = print,
    strict: bool = False,
) -> int:
    """The ``--check`` command: print one line per backend and a summary; 0 when nothing failed, and with
    ``strict`` when nothing is left unverified either (a backend not configured here is skipped, not counted).

    Paid backends generate with ``yes``, or when ``ask`` (None: nobody to ask) answers yes.
    """
    if not backends:
        out("No backends configured.")
        return 0
    paid = [b for b in backends if is_paid(b) and b.availability().available]
    allow_paid = yes
    if paid and not yes:
        images = 3 if seeds else 1
        names = ", ".join(_priced(b) for b in paid)
        if ask is None:
            out(f"Not generating on paid backends ({names}): no one to ask. Run with --yes to allow it.")
        else:
            allow_paid = ask(f"Generate {images} small image(s) on each paid backend ({names})? [y/N] ")
    results = asyncio.run(check_backends(backends, seeds=seeds, allow_paid=allow_paid))
    for result in results:
        out(result.line())
    counts = {status: sum(r.status == status for r in results) for status in ("ok", "unverified", "failed", "skipped")}
    unverified = f", {counts['unverified']} reachable but not verified" if counts["unverified"] else ""
    out(f"{len(results)} backend(s): {counts['ok']} ok{unverified}, {counts['failed']} failed, {counts['skipped']} skipped")
    if counts["unverified"] and strict:
        out("--strict: a check that could not be completed counts as failed.")
    return 1 if counts["failed"] or (strict and counts["unverified"]) else 0


def _priced(backend: Backend) -> str:
    price = backend.capabilities.price_per_image
    return f"{backend.id} at {price}/image" if price else backend.id
