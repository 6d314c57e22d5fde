"""What the page adds to Gradio's markup so that every control has a name in the page's language.

Gradio 6 gives no way to name a MultimodalTextbox's textarea, put a ``title`` on a button or an
``aria-live`` on a Markdown, and some of its own labels are English whatever the locale ("Reset to default
value", "number input for …", "Empty value" on a ``div`` without a role, which axe-core reports as
``aria-prohibited-attr``). :data:`HEAD_SCRIPT` (in the page's ``<head>``) sets them, from the catalog in
:mod:`ui.i18n`, each time Gradio renders, in the language the page booted in (``navigator.language``,
which :mod:`ui.language` sets to the chosen one). It also binds Ctrl/Cmd+Enter to Generate, shows that
shortcut on the button, and gives each generated image an alt text made of its prompt (shortened) and seed.
"""

from __future__ import annotations

import json

from .i18n import CATALOG

__all__ = ["GRADIO_LABELS", "HEAD_SCRIPT", "NAMES"]

# selector -> (catalog key of its accessible name, catalog key of its tooltip or None)
NAMES: dict[str, tuple[str, str | None]] = {
    "#prompt textarea": ("prompt", None),
    "#random-seed button, button#random-seed": ("random_seed_name", "random_seed_tip"),
    "#reuse-seed button, button#reuse-seed": ("reuse_seed_name", "reuse_seed_tip"),
    "button.reset-button": ("reset_name", "reset_tip"),
    "#prompt button[aria-label='Upload a file'], #prompt button.upload-button": ("upload_file", "upload_file"),
    "#generate-btn": ("generate", "generate_tip"),
    "#stop-btn": ("stop", "stop_tip"),
    "#settings-btn": ("settings_button_name", "settings_button_name"),
    "#prompt [role=group][aria-label='Multimedia input field']": ("prompt", None),
}

# Gradio's own English aria-labels that its i18n leaves English -> the catalog key that says it in the page's language
GRADIO_LABELS: dict[str, str] = {
    "Gradio footer navigation": "footer_navigation",
    "Close": "close",
}

_KEYS = sorted({key for pair in NAMES.values() for key in pair if key} | set(GRADIO_LABELS.values())
               | {"empty", "slider_of", "image_alt", "thumbnail_of"})


def _words(index: int) -> dict[str, str]:
    return {key: CATALOG[key][index] for key in _KEYS}


_TEMPLATE = r"""
<script>
(() => {
  const WORDS = {en: __EN__, zh: __ZH__};
  const NAMES = __NAMES__;
  const GRADIO_LABELS = __GRADIO__;
  const lang = (navigator.language || "en").toLowerCase().startsWith("zh") ? "zh" : "en";
  const words = WORDS[lang];
  const mac = /Mac|iPhone|iPad/.test(navigator.platform || "");
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  let lastPrompt = "";
  const rememberPrompt = () => {
    lastPrompt = (document.querySelector("#prompt textarea")?.value || "").trim().replace(/\s+/g, " ");
  };
  const shorten = (text) => text.length > 60 ? text.slice(0, 59) + "…" : text;
  const set = (element, name, value) => {
    if (value && element.getAttribute(name) !== value) element.setAttribute(name, value);
  };
  const labelOf = (element) =>
    element.closest(".block")?.querySelector("[data-testid=block-info]")?.textContent.trim() || "";

  function name() {
    for (const [selector, [nameKey, tipKey]] of Object.entries(NAMES)) {
      for (const element of document.querySelectorAll(selector)) {
        set(element, "aria-label", words[nameKey]);
        if (tipKey) set(element, "title", words[tipKey]);
      }
    }
    const generate = document.querySelector("#generate-btn");
    if (generate) {
      set(generate, "aria-keyshortcuts", "Control+Enter Meta+Enter");
      set(generate, "data-shortcut", mac ? "⌘ Enter" : "Ctrl+Enter");
    }
    for (const element of document.querySelectorAll("[aria-label]")) {
      const key = GRADIO_LABELS[element.getAttribute("aria-label")];
      if (key) set(element, "aria-label", words[key]);
    }
    // Gradio's empty image/gallery placeholder: an aria-label on a div needs a role.
    for (const element of document.querySelectorAll("div.empty[aria-label]")) {
      set(element, "role", "img");
      set(element, "aria-label", words.empty);
    }
    // A slider's number box and range are named after its label, in the page's language.
    for (const element of document.querySelectorAll("input[aria-label^='number input for ']")) {
      set(element, "aria-label", labelOf(element));
    }
    for (const element of document.querySelectorAll("input[type=range][aria-label^='range slider for ']")) {
      set(element, "aria-label", words.slider_of.replace("{label}", labelOf(element)));
    }
    // A gallery's thumbnail: its visible caption first (the seed), then its place ("Thumbnail 1 of 2" in Gradio).
    for (const button of document.querySelectorAll("button.thumbnail-item[aria-label]")) {
      const place = /^Thumbnail (\d+) of (\d+)$/.exec(button.getAttribute("aria-label"));
      if (place) button.dataset.place = place[1] + "/" + place[2];
      if (!button.dataset.place) continue;
      const [index, total] = button.dataset.place.split("/");
      const where = words.thumbnail_of.replace("{index}", index).replace("{total}", total);
      set(button, "aria-label", [button.innerText.trim(), where].filter(Boolean).join(" · "));
    }
    // The status line under Generate announces progress and results.
    const status = document.querySelector("#status");
    if (status) { set(status, "role", "status"); set(status, "aria-live", "polite"); }
    // A generated image says what it is: its prompt (shortened) and its caption (the seed).
    for (const img of document.querySelectorAll("#gallery img")) {
      const alt = img.getAttribute("alt") || "";
      if (!lastPrompt || !alt || alt === img.dataset.alt) continue;
      img.dataset.caption = alt;  // Gradio's caption (the seed), kept for whoever reads it
      img.dataset.alt = words.image_alt.replace("{prompt}", shorten(lastPrompt)).replace("{caption}", alt);
      img.setAttribute("alt", img.dataset.alt);
    }
  }

  let pending = false;
  const observer = new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; name(); });
  });
  const start = () => {
    name();
    observer.observe(document.body, {subtree: true, childList: true, attributes: true, attributeFilter: ["alt", "aria-label"]});
  };
  if (document.body) start(); else document.addEventListener("DOMContentLoaded", start);

  document.addEventListener("click", (event) => {
    if (event.target.closest?.("#generate-btn")) rememberPrompt();
  }, true);
  // Ctrl/Cmd+Enter generates from anywhere on the page.
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key === "Enter") {
      const button = document.querySelector("#generate-btn");
      if (button) { event.preventDefault(); rememberPrompt(); button.click(); }
    }
  });
})();
</script>
"""

HEAD_SCRIPT = (
    _TEMPLATE.replace("__EN__", json.dumps(_words(0), ensure_ascii=False))
    .replace("__ZH__", json.dumps(_words(1), ensure_ascii=False))
    .replace("__NAMES__", json.dumps(NAMES))
    .replace("__GRADIO__", json.dumps(GRADIO_LABELS))
)
