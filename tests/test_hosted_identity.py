"""The hosted quota against a visitor who tries to get round it, played on a launched app on 127.0.0.1:
new sessions with made-up X-Forwarded-For headers get nothing past the quota; behind a trusted proxy each
visitor's own hop has its own budget; Stop does not give back images the provider was already asked for;
the secret that signs visitor ids stays on the server, and visitors keep their history across restarts."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from tests.app_harness import emulator_env, free_port, running_app
from tests.browser_fixtures import VIEWPORT, PlaygroundPage, app_under_test, browser_fixture  # noqa: F401

pytestmark = pytest.mark.e2e

SENTINEL_SECRET = "operator-secret-" + uuid.uuid4().hex


def hosted_env(emulator, **extra: str) -> dict[str, str]:
    return {**emulator_env(("dieyuyun", emulator)), "PLAYGROUND_MODE": "hosted", **extra}


def billed(emulator, since: int = 0) -> int:
    """Images the provider was asked for (the runner sends dieyuyun one image per request)."""
    return sum((r.json or {}).get("n", 1) for r in emulator.requests[since:])


def generate(url: str, n: int = 1, headers: dict[str, str] | None = None, prompt: str = "quota") -> None:
    Client(url, verbose=False, headers=headers).predict(backend="dieyuyun", prompt=prompt, n=n, api_name="/generate")


def test_new_sessions_with_made_up_addresses_get_nothing_past_the_quota(tmp_path, dieyuyun_emulator):
    env = hosted_env(dieyuyun_emulator, PLAYGROUND_QUOTA_PER_HOUR="5", PLAYGROUND_SECRET=SENTINEL_SECRET)
    with running_app(env, data_dir=tmp_path / "data", log_path=tmp_path / "app.log") as app:
        generate(app.url, n=4)
        generate(app.url, n=1)
        assert billed(dieyuyun_emulator) == 5
        # The attack: eight more, each a new session (a new gradio_client) with a new made-up address.
        refused = 0
        for number in range(8):
            headers = {"X-Forwarded-For": f"203.0.113.{number + 1}, 198.51.100.{number + 1}",
                       "X-Real-IP": f"192.0.2.{number + 1}", "Forwarded": f"for=192.0.2.{number + 1}"}
            with pytest.raises(AppError, match="for this hour"):
                generate(app.url, headers=headers, prompt=f"spoofed {number}")
            refused += 1
        past_quota = billed(dieyuyun_emulator) - 5
        print(f"\npast a quota of 5, eight new sessions with made-up X-Forwarded-For: {past_quota} images generated, "
              f"{refused} of 8 refused")
        assert past_quota == 0 and refused == 8

        # The key that signs visitor ids is not in the page's config, the API's description or the page.
        for path in ("config", "gradio_api/info", ""):
            answer = httpx.get(app.url + path, timeout=10)
            assert answer.status_code == 200 and SENTINEL_SECRET not in answer.text, path
        assert SENTINEL_SECRET not in app.log()


def test_behind_a_trusted_proxy_each_visitors_own_hop_has_its_own_budget(tmp_path, dieyuyun_emulator):
    """127.0.0.1 plays the proxy: the right-most X-Forwarded-For hop is what it appended; whatever the
    visitor wrote to its left does not count."""
    env = hosted_env(dieyuyun_emulator, PLAYGROUND_QUOTA_PER_HOUR="2", PLAYGROUND_TRUSTED_PROXIES="127.0.0.1")
    with running_app(env, data_dir=tmp_path / "data", log_path=tmp_path / "app.log") as app:
        generate(app.url, n=2, headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.1"})
        with pytest.raises(AppError, match="for this hour"):  # same visitor, new session, another made-up left hop
            generate(app.url, headers={"X-Forwarded-For": "7.7.7.7, 198.51.100.1"})
        generate(app.url, n=2, headers={"X-Forwarded-For": "6.6.6.6, 198.51.100.2"})  # another visitor
        generate(app.url, n=2)  # the proxy's own address (no header) is a third budget
        budgets = {"198.51.100.1": 2, "198.51.100.2": 2, "127.0.0.1": 2}
        print(f"\nbehind a trusted proxy: images per right-most hop {budgets}; billed {billed(dieyuyun_emulator)}")
        assert billed(dieyuyun_emulator) == 6


def test_stop_does_not_give_back_images_the_provider_was_asked_for(tmp_path, dieyuyun_emulator):
    """The attack of the issue: three 4-image requests cancelled while the provider works on them."""
    latency = 10.0
    env = hosted_env(dieyuyun_emulator, PLAYGROUND_QUOTA_PER_HOUR="13")
    with running_app(env, data_dir=tmp_path / "data", log_path=tmp_path / "app.log") as app:
        dieyuyun_emulator.latency = latency
        client = Client(app.url, verbose=False)
        started = time.monotonic()
        for number in range(3):
            before = len(dieyuyun_emulator.requests)
            job = client.submit(backend="dieyuyun", prompt=f"stopped {number}", n=4, api_name="/generate")
            deadline = time.monotonic() + 30
            while len(dieyuyun_emulator.requests) < before + 4:  # all four calls are at the provider
                assert time.monotonic() < deadline, "the provider did not get the four calls"
                time.sleep(0.05)
            job.cancel()
            time.sleep(0.5)
        stopping = time.monotonic() - started
        time.sleep(1.0)  # whatever the server does after a cancel (a refund) is done by now
        dieyuyun_emulator.latency = 0.0
        provider_billed = billed(dieyuyun_emulator)
        # 13 - 12 = 1 left: a 4-image request is refused saying so, and the last image still works.
        with pytest.raises(AppError, match=r"\(1 left, 4 asked\)"):
            client.predict(backend="dieyuyun", prompt="four more", n=4, api_name="/generate")
        counted = 13 - 1
        client.predict(backend="dieyuyun", prompt="the last one", n=1, api_name="/generate")
        with pytest.raises(AppError, match="used this demo's 13 images"):
            client.predict(backend="dieyuyun", prompt="one past", n=1, api_name="/generate")
    print(f"\nthree 4-image requests stopped in flight (in {stopping:.1f} s): billed {provider_billed}, counted {counted}")
    assert stopping < 3 * latency  # they were stopped, not waited for
    assert provider_billed == counted == 12


@pytest.mark.browser
def test_an_empty_secret_file_is_replaced_and_visitors_keep_their_history_across_restarts(
    browser, tmp_path, dieyuyun_emulator_session
):
    folder = tmp_path / "hosted"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / ".browser-secret").write_text("")  # a crash at the first start left it empty
    prompt = f"a visitor who comes back {uuid.uuid4().hex[:8]}"
    # The same port after each restart: the browser keeps storage per origin.
    env = hosted_env(dieyuyun_emulator_session, GRADIO_SERVER_PORT=str(free_port()))
    with app_under_test(folder, env) as app:
        context = browser.new_context(viewport=VIEWPORT, locale="en-US")
        context.set_default_timeout(20_000)
        try:
            page = PlaygroundPage(context.new_page(), app)
            page.open()
            page.fill("prompt", prompt)
            page.generate(expect_images=1)
            secret = (folder / "data" / ".browser-secret").read_text()
            assert len(secret) >= 32
            assert secret not in httpx.get(app.url + "config", timeout=10).text
            for _ in range(2):
                app.restart()
                assert (folder / "data" / ".browser-secret").read_text() == secret
                page.open()
                page.search_history(prompt.rsplit(" ", 1)[1], expect_entries=1)
        finally:
            context.close()
