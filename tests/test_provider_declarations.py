"""What a provider declares about itself, and what reads it: whether it costs money (``--check`` asks
first), its typical latency (the compare plan's estimate), its key variable and key page, and the optional
members the service asks for with ``isinstance`` (backends/base.py), not by probing attribute names."""

from __future__ import annotations

import dataclasses
import math

from backends.base import HasReadiness, KeyedBackend, LocalCompute, ReportsSending, WeightsDownload
from backends.check import is_paid, run_check
from backends.compare.plan import DEFAULT_LATENCY_S, plan_compare
from backends.history import HistoryStore
from backends.playground import Playground
from backends.providers.local import LocalBackend, LocalSettings
from backends.registry import Registry
from tests.conftest import make_backend


def declaring(backend, **declared):
    """``backend`` with its capabilities changed as a provider (a plugin) would declare them."""
    backend.capabilities = dataclasses.replace(backend.capabilities, **declared)
    return backend


def test_a_provider_that_declares_it_costs_money_is_not_charged_by_check_without_asking(openai_emulator):
    plugin = declaring(make_backend("openai", openai_emulator), costs_money=True)  # no price, no known id
    lines: list[str] = []
    assert is_paid(plugin) and run_check([plugin], ask=None, out=lines.append) == 0
    assert openai_emulator.requests == [] and "paid: no image generated" in lines[1]
    free = declaring(make_backend("openai", openai_emulator), costs_money=False)
    assert not is_paid(free) and run_check([free], ask=None, out=lines.append) == 0
    assert len(openai_emulator.requests) == 1


def test_the_built_in_hosted_providers_declare_they_cost_money_and_where_their_keys_come_from(
    dieyuyun_emulator, segmind_emulator, siliconflow_emulator
):
    for provider, emulator in (("dieyuyun", dieyuyun_emulator), ("segmind", segmind_emulator),
                               ("siliconflow", siliconflow_emulator)):
        backend = make_backend(provider, emulator)
        assert is_paid(backend), provider
        assert isinstance(backend, KeyedBackend) and isinstance(backend, ReportsSending)
        assert backend.key_env_var == f"{provider.upper()}_API_KEY" and backend.key_page.startswith("https://")
    assert make_backend("segmind", segmind_emulator).capabilities.typical_latency_s == 85.0


def test_the_compare_estimate_reads_the_declared_latency(tmp_path, openai_emulator):
    def estimate(backend) -> float:
        playground = Playground(registry=Registry([backend]), history=HistoryStore(tmp_path / backend.label))
        grid = plan_compare(playground, backend_id=backend.id, values={"prompt": "a fox", "size": "256x256"},
                            x_kind="seed", x_text="1, 2, 3, 4, 5")
        return grid.estimated_s

    slow = declaring(make_backend("openai", openai_emulator), typical_latency_s=40.0)
    slow.label = "slow"
    undeclared = make_backend("openai", openai_emulator)
    undeclared.label = "undeclared"
    waves = math.ceil(5 / slow.max_concurrency)  # five cells, max_concurrency at a time
    assert estimate(slow) == waves * 40.0 and estimate(undeclared) == waves * DEFAULT_LATENCY_S


def test_the_local_backend_declares_what_it_offers_and_a_remote_one_does_not():
    local = LocalBackend(LocalSettings())
    assert isinstance(local, LocalCompute) and isinstance(local, WeightsDownload) and isinstance(local, HasReadiness)
    assert not isinstance(local, KeyedBackend) and not isinstance(local, ReportsSending)
    assert local.capabilities.typical_latency_s == 30.0 and not is_paid(local)
