"""The seed rule's one home (backends/seeds.py): image i of a batch from seed s has seed s + i, a batch
of n starts at most at seed_max - (n - 1), and a backend never sees a request without its seed."""

from __future__ import annotations

import asyncio
import random

import pytest

from backends.base import GenerationRequest
from backends.seeds import draw_seed, highest_seed, image_seeds, seed_run
from backends.validation import validate_request
from tests.conftest import make_backend


def test_a_batch_has_consecutive_seeds_and_room_below_seed_max():
    assert list(image_seeds(GenerationRequest(prompt="a fox", n=4, seed=7))) == [7, 8, 9, 10]
    assert list(seed_run(7, 1)) == [7]
    assert highest_seed(10, 4) == 7 and highest_seed(10, 1) == 10 and highest_seed(10, 0) == 10
    assert highest_seed(2, 4) == -1  # no batch of 4 fits: validation refuses every seed, a draw gives 0
    rng = random.Random(3)
    drawn = {draw_seed(10, 4, rng) for _ in range(300)}
    assert drawn == set(range(8))
    assert draw_seed(2, 4, rng) == 0


def test_a_backend_called_without_a_seed_says_so_instead_of_using_seed_0(segmind_emulator):
    backend = make_backend("segmind", segmind_emulator)
    unseeded = validate_request({"prompt": "a fox", "seed": -1}, backend.capabilities)
    assert unseeded.seed is None
    with pytest.raises(ValueError, match="seed picked"):
        asyncio.run(backend.generate(unseeded))
    assert segmind_emulator.requests == []
