"""The one table of what /generate's and /compare's parameters mean (ui/api_params.py), from real capabilities."""

from __future__ import annotations

from backends.providers.dieyuyun import DIEYUYUN_CAPABILITIES
from backends.providers.segmind import SEGMIND_CAPABILITIES
from backends.providers.siliconflow import SILICONFLOW_CAPABILITIES
from ui.api_params import ApiFacts, docstring, parameter_descriptions

FACTS = ApiFacts(
    (("dieyuyun", "dieyuyun (Kolors)", DIEYUYUN_CAPABILITIES), ("segmind", "Segmind", SEGMIND_CAPABILITIES),
     ("siliconflow", "SiliconFlow", SILICONFLOW_CAPABILITIES)),
    "dieyuyun",
)
GENERATE = ("backend", "prompt", "negative_prompt", "size", "n", "seed", "steps", "guidance", "scheduler",
            "output_format", "output_quality", "download", "preset")
COMPARE = ("x_type", "x_values", "y_type", "y_values", "confirm")


def test_every_parameter_says_its_rule_per_backend():
    about = parameter_descriptions(FACTS)
    assert set(GENERATE + COMPARE) <= set(about)
    assert about["steps"].endswith("dieyuyun 1-100, default 20; segmind 1-50, default 25; siliconflow 1-100, default 20.")
    assert "segmind 0-20, default 6" in about["guidance"]
    assert "Only segmind (Euler = EulerDiscreteScheduler, Euler a = EulerAncestralDiscreteScheduler" in about["scheduler"]
    assert "Only segmind (webp, jpg, png)" in about["output_format"] and "segmind (0-100, default 80)" in about["output_quality"]
    assert "segmind any WxH from 512 to 2048 in steps of 8" in about["size"]
    assert "(dieyuyun 4; segmind 10; siliconflow 4)" in about["n"]
    assert "seed, guidance, steps, scheduler, size, backend, prompt_sr" in about["x_type"]


def test_the_docstring_has_one_args_line_per_parameter():
    text = docstring("Generate.", GENERATE, parameter_descriptions(FACTS))
    lines = text.split("Args:\n")[1].splitlines()
    assert [line.split(":")[0].strip() for line in lines] == list(GENERATE)
