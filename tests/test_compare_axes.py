"""Axis value syntax for the Compare tab: every accepted form, and errors that name the axis, the text
and the rule."""

from __future__ import annotations

from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backends.compare import (
    AXIS_KINDS,
    MAX_AXIS_VALUES,
    AxisKind,
    AxisSyntaxError,
    axis_choices,
    parse_axes,
    parse_axis,
    parse_axis_kind,
)
from backends.errors import InvalidRequest


def values(kind: str, text: str):
    return parse_axis(kind, text).values


# -- lists and ranges ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "expected"),
    [
        ("guidance", "4.5, 6, 7.5", (4.5, 6.0, 7.5)),
        ("guidance", "4.5,6,7.5", (4.5, 6.0, 7.5)),
        ("guidance", " 5 ", (5.0,)),
        ("guidance", "4.5, 6,", (4.5, 6.0)),  # a trailing comma is harmless
        ("guidance", "3-7", (3.0, 4.0, 5.0, 6.0, 7.0)),
        ("guidance", "3 - 5", (3.0, 4.0, 5.0)),
        ("guidance", "7-5", (7.0, 6.0, 5.0)),  # counts down
        ("guidance", "3-7 (+0.5)", (3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 6.5, 7.0)),
        ("guidance", "3-7 (1.5)", (3.0, 4.5, 6.0)),  # sign optional; stops at or before the end
        ("guidance", "7-3 (-2)", (7.0, 5.0, 3.0)),
        ("guidance", "0.1-0.5 (+0.1)", (0.1, 0.2, 0.3, 0.4, 0.5)),  # no float drift
        ("guidance", "4-8 [3]", (4.0, 6.0, 8.0)),
        ("guidance", "1-2 [3]", (1.0, 1.5, 2.0)),
        ("guidance", "1-10 [5]", (1.0, 3.25, 5.5, 7.75, 10.0)),
        ("guidance", "2, 4-6 [3], 9", (2.0, 4.0, 5.0, 6.0, 9.0)),  # items mix
        ("steps", "20, 30, 50", (20, 30, 50)),
        ("steps", "1-10", tuple(range(1, 11))),
        ("steps", "1-10 (+2)", (1, 3, 5, 7, 9)),
        ("steps", "10-50 [3]", (10, 30, 50)),
        ("steps", "1-10 [4]", (1, 4, 7, 10)),
        ("steps", "20.0, 30", (20, 30)),  # whole numbers written as decimals
        ("seed", "1, 7, 42", (1, 7, 42)),
        ("seed", "100-103", (100, 101, 102, 103)),
        ("seed", "100-200 (+25)", (100, 125, 150, 175, 200)),
        ("seed", "0-1000 [5]", (0, 250, 500, 750, 1000)),
        ("seed", "1234,", (1234,)),  # a list of one seed
        ("seed", "9999999990-9999999999 (+3)", (9999999990, 9999999993, 9999999996, 9999999999)),
    ],
)
def test_number_lists_and_ranges(kind, text, expected):
    assert values(kind, text) == expected


def test_numbers_keep_their_type_and_labels_drop_trailing_zeros():
    guidance = parse_axis("guidance", "4-8 [3]")
    assert all(type(v) is float for v in guidance.values)
    assert guidance.labels == ("4", "6", "8")
    assert guidance.headings == ("Guidance: 4", "Guidance: 6", "Guidance: 8")
    steps = parse_axis("steps", "20, 30")
    assert all(type(v) is int for v in steps.values)
    assert steps.labels == ("20", "30")


@pytest.mark.parametrize("text", ["4", "[4]", " [ 4 ] ", "4 "])
def test_a_lone_seed_number_is_a_count_from_the_base_seed(text):
    axis = parse_axis("seed", text)
    assert axis.seed_count == 4 and axis.values == () and len(axis) == 4
    assert not axis.resolved
    filled = axis.with_seeds_from(1000)
    assert filled.values == (1000, 1001, 1002, 1003)
    assert filled.labels == ("1000", "1001", "1002", "1003")
    assert filled.resolved and len(filled) == 4


def test_text_kinds_are_comma_lists_with_csv_quotes():
    assert values("scheduler", "Euler, Euler a, DPM++ 2M") == ("Euler", "Euler a", "DPM++ 2M")
    assert values("size", "1024x1024, 768 x 1024,1280X720") == ("1024x1024", "768x1024", "1280x720")
    assert values("backend", "dieyuyun, siliconflow") == ("dieyuyun", "siliconflow")
    assert values("prompt_sr", 'cat, dog, "red, round fox"') == ("cat", "dog", "red, round fox")
    assert values("prompt_sr", "猫, 狗, 狐狸") == ("猫", "狗", "狐狸")
    sr = parse_axis("prompt_sr", "cat, dog")
    assert sr.search == "cat" and sr.labels == ("cat", "dog")


def test_prompt_replacements_are_case_sensitive_backend_names_are_not():
    assert values("prompt_sr", "Cat, cat") == ("Cat", "cat")
    with pytest.raises(AxisSyntaxError, match="given twice"):
        parse_axis("backend", "dieyuyun, DieYuYun")


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("seed", AxisKind.SEED), ("Seeds", AxisKind.SEED), ("guidance", AxisKind.GUIDANCE), ("CFG", AxisKind.GUIDANCE),
        ("steps", AxisKind.STEPS), ("Scheduler", AxisKind.SCHEDULER), ("sampler", AxisKind.SCHEDULER),
        ("sizes", AxisKind.SIZE), ("Backend", AxisKind.BACKEND), ("Prompt S/R", AxisKind.PROMPT_SR),
        ("prompt_sr", AxisKind.PROMPT_SR), (AxisKind.STEPS, AxisKind.STEPS),
    ],
)
def test_kind_names(name, kind):
    assert parse_axis_kind(name) is kind


def test_axis_choices_cover_every_kind_with_its_title():
    assert [value for _, value in axis_choices()] == [kind.value for kind in AxisKind]
    assert dict(axis_choices())["Prompt S/R"] == "prompt_sr"
    assert all(info.syntax and info.example for info in AXIS_KINDS.values())
    for info in AXIS_KINDS.values():  # every example parses
        parse_axis(info.kind, info.example)


def test_parse_axes_with_and_without_y():
    x, y = parse_axes("guidance", "4.5, 6", "seed", "2")
    assert (x.field, y.field) == ("x_axis", "y_axis") and y.seed_count == 2
    for none in (None, "", "none", "None"):
        x, y = parse_axes("steps", "20, 30", none, "")
        assert y is None and x.values == (20, 30)


def test_to_dict_is_plain_data():
    axis = parse_axis("guidance", "4-8 [3]", field="y_axis")
    assert axis.to_dict() == {
        "kind": "guidance", "title": "Guidance", "text": "4-8 [3]", "values": [4.0, 6.0, 8.0],
        "labels": ["4", "6", "8"], "seed_count": None,
    }


# -- errors ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "text", "reason"),
    [
        ("guidance", "", "no values given"),
        ("guidance", " , ,", "no values given"),
        ("guidance", "abc", "'abc' is not a number or a range"),
        ("guidance", "4, 1-", "'1-' is a range without an end"),
        ("guidance", "-1", "'-1' is negative"),
        ("guidance", "4 5", "'4 5' holds two values; separate values with commas"),
        ("guidance", "1-3 (2", "is not a stepped range a-b (+s) or a counted range a-b [n]"),
        ("guidance", "1-3 [2", "is not a stepped range a-b (+s) or a counted range a-b [n]"),
        ("guidance", "1-10 (+0)", "a step of 0"),
        ("guidance", "1-10 (-2)", "steps -2, away from 10"),
        ("guidance", "10-1 (+2)", "steps +2, away from 1"),
        ("guidance", "1-3 [1]", "needs n of at least 2"),
        ("guidance", "1-3 [1000]", "at most 100"),
        ("guidance", "0-1000", "gives 1001 values; at most 100"),
        ("guidance", "4, 4.0", "'4' is given twice"),
        ("guidance", "5-5 [3]", "'5' is given twice"),
        ("steps", "4.5", "'4.5' is not a whole number"),
        ("steps", "1-3 (+0.5)", "'0.5' in '1-3 (+0.5)' is not a whole number"),
        ("steps", "1-3 [5]", "only 3 different whole numbers"),
        ("steps", "10-20 [3], 15", "'15' is given twice"),
        ("seed", "0", "a lone number is how many seeds to count"),
        ("seed", "1000", "separate them with commas (1000,)"),
        ("seed", "[0]", "a lone number is how many seeds"),
        ("seed", "-1, 5", "'-1' is negative"),
        ("seed", "0-9999999999", "at most 100"),
        ("size", "big, 1024x1024", "'big' is not a size"),
        ("size", "1024", "'1024' is not a size"),
        ("prompt_sr", '"cat, dog', "the quotes do not pair up"),
        ("scheduler", ",,", "no values given"),
    ],
)
def test_bad_syntax_names_the_axis_the_text_and_the_rule(kind, text, reason):
    with pytest.raises(AxisSyntaxError) as caught:
        parse_axis(kind, text, field="y_axis")
    error = caught.value
    assert isinstance(error, InvalidRequest)
    assert error.fields == ("y_axis",)
    assert (error.field, error.kind, error.text) == ("y_axis", AxisKind(kind), text)
    message = str(error)
    assert reason in message
    assert "y_axis" in message and repr(text)[:40] in message  # the axis and the text given
    assert AXIS_KINDS[AxisKind(kind)].title + " axis" in message
    assert AXIS_KINDS[AxisKind(kind)].syntax in message  # the rule to follow


def test_too_many_values_in_a_list():
    text = ", ".join(str(i) for i in range(MAX_AXIS_VALUES + 1))
    with pytest.raises(AxisSyntaxError, match=f"{MAX_AXIS_VALUES + 1} values; at most {MAX_AXIS_VALUES}"):
        parse_axis("steps", text)


def test_unknown_kind_lists_the_kinds():
    with pytest.raises(InvalidRequest) as caught:
        parse_axis_kind("colour", field="x_axis")
    assert caught.value.fields == ("x_axis",)
    assert "seed, guidance, steps, scheduler, size, backend, prompt_sr" in str(caught.value)
    with pytest.raises(InvalidRequest):
        parse_axis_kind("", field="x_axis")  # X is required


def test_parse_axes_reports_both_axes_at_once_and_refuses_one_kind_twice():
    with pytest.raises(InvalidRequest) as caught:
        parse_axes("guidance", "x", "steps", "4.5")
    assert caught.value.fields == ("x_axis", "y_axis")
    with pytest.raises(InvalidRequest) as caught:
        parse_axes("seed", "4", "Seeds", "1, 2")
    assert caught.value.fields == ("y_axis",)
    assert "already varies Seed" in str(caught.value)


# -- properties ----------------------------------------------------------------------------------------


@given(
    a=st.integers(0, 500),
    b=st.integers(0, 500),
    step=st.integers(1, 60),
)
def test_stepped_ranges_stay_between_their_ends_and_start_at_the_first(a, b, step):
    text = f"{a}-{b} (+{step})" if b >= a else f"{a}-{b} (-{step})"
    try:
        result = values("steps", text)
    except AxisSyntaxError as error:
        assert "at most" in error.reason
        return
    assert result[0] == a
    assert all(min(a, b) <= v <= max(a, b) for v in result)
    assert all(abs(q - p) == step for p, q in pairwise(result))
    assert abs(b - result[-1]) < step


@given(
    a=st.floats(0, 20, allow_nan=False).map(lambda f: round(f, 2)),
    b=st.floats(0, 20, allow_nan=False).map(lambda f: round(f, 2)),
    count=st.integers(2, 12),
)
def test_counted_ranges_include_both_ends_evenly(a, b, count):
    try:
        result = values("guidance", f"{a}-{b} [{count}]")
    except AxisSyntaxError as error:  # only when the ends meet: the values repeat
        assert a == b and "given twice" in error.reason
        return
    assert len(result) == count
    assert result[0] == pytest.approx(a) and result[-1] == pytest.approx(b)
    gaps = [q - p for p, q in pairwise(result)]
    assert all(g == pytest.approx(gaps[0], abs=1e-5) for g in gaps)
