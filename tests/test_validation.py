"""The one validator: every field, every edge, messages that name the field, the value and the rule."""

from __future__ import annotations

import math

import pytest

from backends.errors import InvalidRequest
from backends.providers.dieyuyun import DIEYUYUN_CAPABILITIES as DIEYUYUN
from backends.providers.segmind import SEGMIND_CAPABILITIES as SEGMIND
from backends.validation import validate_request


def problems(values, caps):
    with pytest.raises(InvalidRequest) as info:
        validate_request(values, caps)
    return {p.field: p for p in info.value.problems}, str(info.value)


def test_defaults_come_from_the_backend():
    request = validate_request({"prompt": "a cat"}, SEGMIND)
    assert (request.width, request.height, request.n) == (1024, 1024, 1)
    assert (request.steps, request.guidance, request.seed) == (25, 6.0, None)
    assert (request.scheduler, request.output_format, request.output_quality) == ("EulerDiscreteScheduler", "webp", 80)
    request = validate_request({"prompt": "a cat"}, DIEYUYUN)
    assert (request.steps, request.guidance, request.scheduler, request.output_format) == (20, 7.5, None, None)


def test_form_values_are_coerced():
    request = validate_request(
        {"prompt": "  一只橘猫  ", "size": "768x1024", "n": 4.0, "seed": "42", "steps": "30", "guidance": "7"}, DIEYUYUN
    )
    assert request.prompt == "一只橘猫"
    assert (request.width, request.height, request.n, request.seed, request.steps, request.guidance) == (768, 1024, 4, 42, 30, 7.0)


@pytest.mark.parametrize("seed", [None, "", -1, "-1", -1.0])
def test_random_seed_spellings(seed):
    assert validate_request({"prompt": "x", "seed": seed}, DIEYUYUN).seed is None


@pytest.mark.parametrize(
    "field, good, bad",
    [
        ("n", [1, 4], [0, 5, 2.5, "two", True]),
        ("steps", [1, 100], [0, 101, "many"]),
        ("guidance", [0, 20, 7.25], [-0.1, 20.01, math.nan, math.inf, "high"]),
        ("seed", [0, 9_999_999_999], [-2, 10_000_000_000, 1.5, "abc"]),
        ("size", ["1024x1024", "720x1280", "1280x720"], ["1000x1000", "1024", "big", "1280x1280"]),
    ],
)
def test_range_edges_dieyuyun(field, good, bad):
    for value in good:
        validate_request({"prompt": "x", field: value}, DIEYUYUN)
    for value in bad:
        found, message = problems({"prompt": "x", field: value}, DIEYUYUN)
        assert field in found, (field, value)
        assert repr(value)[:20] in message or str(value) in message


@pytest.mark.parametrize(
    "values",
    [
        {"size": "512x512"}, {"size": "2048x2048"}, {"size": "512x2048"}, {"steps": 50}, {"steps": 1},
        {"guidance": 0}, {"guidance": 20}, {"output_quality": 0}, {"output_quality": 100},
        {"scheduler": "DEISMultistepScheduler"}, {"output_format": "png"}, {"n": 10},
    ],
)
def test_segmind_accepts_its_edges(values):
    validate_request({"prompt": "x", **values}, SEGMIND)


@pytest.mark.parametrize(
    "values, field",
    [
        ({"size": "504x512"}, "size"), ({"size": "2056x1024"}, "size"), ({"size": "1001x1000"}, "size"),
        ({"steps": 51}, "steps"), ({"output_quality": 101}, "output_quality"), ({"output_quality": -1}, "output_quality"),
        ({"scheduler": "Fancy"}, "scheduler"), ({"scheduler": "DPM++ 2M Karras"}, "scheduler"),
        ({"output_format": "gif"}, "output_format"), ({"n": 11}, "n"),
    ],
)
def test_segmind_rejects_past_its_edges(values, field):
    found, _ = problems({"prompt": "x", **values}, SEGMIND)
    assert set(found) == {field}


def test_message_names_field_value_and_rule():
    _, message = problems({"prompt": "x", "steps": 500}, DIEYUYUN)
    assert "steps" in message and "500" in message and "1 to 100" in message


def test_every_problem_is_reported_at_once():
    found, _ = problems({"prompt": "", "n": 9, "size": "1x1", "colour": "red"}, DIEYUYUN)
    assert set(found) == {"prompt", "n", "size", "colour"}
    assert "unknown field" in str(found["colour"])


def test_options_a_backend_lacks_are_refused():
    found, _ = problems({"prompt": "x", "scheduler": "EulerDiscreteScheduler", "output_quality": 50}, DIEYUYUN)
    assert set(found) == {"scheduler", "output_quality"}


@pytest.mark.parametrize(
    "spelling, sent",
    [
        ("Euler a", "EulerAncestralDiscreteScheduler"), ("euler A", "EulerAncestralDiscreteScheduler"),
        ("EulerAncestralDiscreteScheduler", "EulerAncestralDiscreteScheduler"), ("Euler", "EulerDiscreteScheduler"),
        ("DPM++ SDE Karras", "DPMSolverMultistepScheduler_SDE_karras"), ("UniPC", "UniPCMultistepScheduler"),
    ],
)
def test_a1111_and_provider_spellings_both_reach_segmind_in_its_own(spelling, sent):
    assert validate_request({"prompt": "x", "scheduler": spelling}, SEGMIND).scheduler == sent


def test_an_unknown_scheduler_is_refused_with_both_spellings_of_each_choice():
    found, _ = problems({"prompt": "x", "scheduler": "Fancy"}, SEGMIND)
    assert "Euler a (EulerAncestralDiscreteScheduler)" in found["scheduler"].allowed


def test_a_setting_the_backend_lacks_is_refused_by_the_backends_name():
    with pytest.raises(InvalidRequest) as info:
        validate_request({"prompt": "x", "scheduler": "Euler a", "output_format": "png", "output_quality": 50}, DIEYUYUN,
                         backend="dieyuyun (Kolors)")
    assert {p.field for p in info.value.problems} == {"scheduler", "output_format", "output_quality"}
    for line in str(info.value).splitlines()[1:]:
        assert "dieyuyun (Kolors) has no such setting" in line, line
    assert "scheduler: 'Euler a' is not allowed" in str(info.value)
    assert "dieyuyun (Kolors) 没有这项设置" in info.value.message_in("zh")


def test_left_out_settings_are_the_backends_own_even_when_given_as_none():
    request = validate_request({"prompt": "x", "steps": None, "guidance": None, "scheduler": None, "output_format": None,
                                "output_quality": None, "size": None}, SEGMIND)
    assert (request.steps, request.guidance, request.scheduler, request.output_format, request.output_quality, request.size) == (
        25, 6.0, "EulerDiscreteScheduler", "webp", 80, "1024x1024")


def test_seed_leaves_room_for_the_batch():
    validate_request({"prompt": "x", "n": 4, "seed": 9_999_999_996}, DIEYUYUN)
    found, message = problems({"prompt": "x", "n": 4, "seed": 9_999_999_997}, DIEYUYUN)
    assert "seed" in found and "9999999996" in message


def test_prompt_limits_and_control_characters():
    request = validate_request({"prompt": "a\x00b\x1fc 🐱\n"}, DIEYUYUN)
    assert request.prompt == "abc 🐱"
    found, message = problems({"prompt": "x" * 100_000}, DIEYUYUN)
    assert "prompt" in found and "100000 characters" in message and "xxxxxxxx" not in message
    found, _ = problems({"prompt": 12}, DIEYUYUN)
    assert "prompt" in found
