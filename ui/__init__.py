"""The Gradio page. ``ui.page.build_app`` composes the header and the tabs; nothing below this package
imports gradio, and importing the package's plain modules (form, results, i18n, streaming) does not either.

    page.py           build_app and launch_options: the header, the language switch, the tabs

    generate_tab.py   prompt and Generate, the basics, Advanced; results image by image
    history_tab.py    every generation as a batch; an entry view with its actions
    compare_tab.py    seeds, parameters or backends side by side
    settings_tab.py   API keys for this browser session
    api.py            the public /generate and /compare endpoints
    limits.py         what a request may bring (body and upload sizes) and the routes turned off
    form.py, results.py, compare_text.py, streaming.py, i18n.py, session.py   plain logic the tabs share
"""
