"""The page's theme: Gradio's Soft with an orange accent, its colours chosen for WCAG 2.1 AA.

Soft's orange draws text and buttons with orange 500 (#f97316), which white text and pale chips cannot
carry: white on it is 2.80:1, the label chips' #f97316 on #ffedd5 2.45:1 (AA asks 4.5:1 for text, 3:1 for a
control's outline). Here text on orange uses orange 700/800, the placeholder and the subdued text gray
500/600, and a checkbox's square gets a border one can see; dark mode (the page follows the system's)
the same way. ``tests/test_theme.py`` computes the pairs from the theme's own CSS and the browser test
runs axe-core on every tab.
"""

from __future__ import annotations

import gradio as gr

__all__ = ["playground_theme"]


def playground_theme() -> gr.themes.Base:
    return gr.themes.Soft(primary_hue="orange", secondary_hue="orange", neutral_hue="gray").set(
        # -- light mode
        color_accent="*primary_700",  # the selected tab, an example's label, a slider's thumb
        color_accent_soft="*primary_50",
        body_text_color_subdued="*neutral_600",
        link_text_color="*primary_700",
        link_text_color_hover="*primary_800",
        link_text_color_visited="*primary_800",
        link_text_color_active="*primary_800",
        block_label_text_color="*primary_800",
        block_title_text_color="*primary_800",
        block_info_text_color="*neutral_600",
        input_placeholder_color="*neutral_500",
        input_border_color="*neutral_300",
        input_border_color_focus="*primary_700",
        button_primary_background_fill="*primary_700",
        button_primary_background_fill_hover="*primary_800",
        button_primary_text_color="white",
        button_primary_text_color_hover="white",
        checkbox_border_color="*neutral_500",
        checkbox_border_color_hover="*primary_700",
        checkbox_border_color_focus="*primary_700",
        checkbox_background_color_selected="*primary_700",
        checkbox_border_color_selected="*primary_700",
        checkbox_label_background_fill_selected="*primary_700",
        checkbox_label_text_color_selected="white",
        slider_color="*primary_700",
        # -- dark mode
        color_accent_soft_dark="*neutral_700",
        body_text_color_subdued_dark="*neutral_300",
        link_text_color_dark="*primary_300",
        link_text_color_hover_dark="*primary_200",
        link_text_color_visited_dark="*primary_300",
        link_text_color_active_dark="*primary_200",
        block_label_background_fill_dark="*primary_800",
        block_title_background_fill_dark="*primary_800",
        block_label_text_color_dark="white",
        block_title_text_color_dark="white",
        block_info_text_color_dark="*neutral_300",
        input_placeholder_color_dark="*neutral_300",
        input_border_color_dark="*neutral_500",
        button_primary_background_fill_dark="*primary_700",
        button_primary_background_fill_hover_dark="*primary_800",
        button_primary_text_color_dark="white",
        button_primary_text_color_hover_dark="white",
        button_secondary_background_fill_hover_dark="*neutral_600",
        checkbox_border_color_dark="*neutral_400",
        checkbox_background_color_selected_dark="*primary_700",
        checkbox_border_color_selected_dark="*primary_700",
        checkbox_label_background_fill_selected_dark="*primary_700",
        checkbox_label_text_color_selected_dark="white",
        slider_color_dark="*primary_500",
    )
