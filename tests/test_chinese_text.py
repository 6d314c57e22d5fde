"""Chinese as a native designer writes it: brackets closed in the width they were opened in, full-width
punctuation next to Chinese (placeholders count as the text around them), one term for a backend (服务)."""

from __future__ import annotations

import re

import pytest

from backends.messages import MESSAGES
from ui.i18n import CATALOG

CHINESE = {f"ui:{key}": texts[1] for key, texts in CATALOG.items()}
CHINESE.update({f"messages:{key}": texts[1] for key, texts in MESSAGES.items()})
PAIRS = {"(": ")", "（": "）", "[": "]", "【": "】"}


def mismatched_brackets(text: str) -> list[str]:
    """Each bracket pair opened in one width and closed in the other ("（CFG)", "(zip）")."""
    found, stack = [], []
    for char in text:
        if char in PAIRS:
            stack.append(char)
        elif char in PAIRS.values():
            if not stack:
                found.append(f"unopened {char}")
                continue
            opened = stack.pop()
            if PAIRS[opened] != char:
                found.append(opened + char)
    return found


def test_the_check_sees_the_mixtures_the_issue_found():
    assert mismatched_brackets("引导强度（CFG)") == ["（)"]
    assert mismatched_brackets("⬇ 全部(zip）") == ["(）"]
    assert mismatched_brackets("引导强度（CFG）") == [] and mismatched_brackets("f(x) 的（说明）") == []


@pytest.mark.parametrize("key", sorted(CHINESE))
def test_brackets_close_in_the_width_they_open(key):
    assert mismatched_brackets(CHINESE[key]) == [], CHINESE[key]


# What one types, quoted as an example: "{n}," is the syntax of a list of seeds.
TYPED = {"messages:axis_seed_count_or_list"}


def test_no_half_width_colon_or_comma_next_to_chinese():
    # "种子 {seed}:{reason}" reads as Chinese around the placeholder: the colon should be "：".
    text_like = {key: re.sub(r"\{[^{}]*\}", "字", text) for key, text in CHINESE.items() if key not in TYPED}
    bad = {key: CHINESE[key] for key, text in text_like.items()
           if re.search(r"[\u4e00-\u9fff][:;,!?]|[:;,!?][\u4e00-\u9fff]", text)}
    assert bad == {}


def test_one_term_for_a_backend():
    assert {key: text for key, text in CHINESE.items() if "后端" in text} == {}
