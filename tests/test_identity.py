"""Who a hosted visitor is: the address the server sees or the hop a trusted proxy appended (never a
header the visitor wrote), a visitor id this server signed, and the secret that signs it kept on disk
whole across restarts."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from types import SimpleNamespace

import pytest
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from app import browser_secret
from backends.errors import ConfigurationError
from backends.identity import TrustedProxies, VisitorSigner, client_address, parse_address, quota_address
from backends.settings import PlaygroundSettings
from tests.conftest import hypothesis_examples
from ui.session import Session, SessionContext

PROXY = TrustedProxies.parse("10.0.0.0/8, 192.0.2.7")

ipv4 = st.builds(lambda n: str(ipaddress.IPv4Address(n)), st.integers(0, 2**32 - 1))
ipv6 = st.builds(lambda n: str(ipaddress.IPv6Address(n)), st.integers(0, 2**128 - 1))
public_ipv4 = ipv4.filter(lambda a: not PROXY.trusts(ipaddress.ip_address(a)))
proxy_ipv4 = st.one_of(st.just("192.0.2.7"), st.builds(lambda n: f"10.{n >> 16 & 255}.{n >> 8 & 255}.{n & 255}",
                                                        st.integers(0, 2**24 - 1)))


def request(peer: str, *forwarded: str, session_hash: str = "s1") -> SimpleNamespace:
    """What a handler gets as ``gr.Request``: the peer and the headers, as Starlette gives them."""
    from starlette.datastructures import Headers

    raw = [(b"x-forwarded-for", value.encode()) for value in forwarded]
    return SimpleNamespace(client=SimpleNamespace(host=peer), headers=Headers(raw=raw), session_hash=session_hash)


# -- the trusted-proxy rule ------------------------------------------------------------------------


def test_the_setting_reads_addresses_networks_and_the_private_ranges():
    parsed = TrustedProxies.parse(" 127.0.0.1 , 203.0.113.0/24,::1, private")
    assert ipaddress.ip_network("127.0.0.1/32") in parsed.networks
    assert parsed.trusts(ipaddress.ip_address("203.0.113.200"))
    assert parsed.trusts(ipaddress.ip_address("10.16.3.80")) and parsed.trusts(ipaddress.ip_address("::1"))
    assert not parsed.trusts(ipaddress.ip_address("198.51.100.1"))
    assert not TrustedProxies.parse("none") and not TrustedProxies.parse("") and not TrustedProxies.parse(None)
    with pytest.raises(ValueError, match=r"'proxy\.example' is not an address"):
        TrustedProxies.parse("10.0.0.1, proxy.example")


def test_a_bad_setting_stops_the_app_naming_the_variable_and_spaces_trust_private_peers_by_default():
    with pytest.raises(ConfigurationError, match=r"PLAYGROUND_TRUSTED_PROXIES='10\.0\.0\.300' is not allowed"):
        PlaygroundSettings.from_mapping({"PLAYGROUND_TRUSTED_PROXIES": "10.0.0.300"})
    assert not PlaygroundSettings.from_mapping({}).trusted_proxies  # off a Space: the peer, always
    on_space = PlaygroundSettings.from_mapping({"SPACE_ID": "someone/kolors"}).trusted_proxies
    assert on_space == TrustedProxies.private()
    assert not PlaygroundSettings.from_mapping({"SPACE_ID": "x", "PLAYGROUND_TRUSTED_PROXIES": "none"}).trusted_proxies


def test_an_untrusted_peer_is_the_address_whatever_its_headers_say():
    assert client_address("198.51.100.4", ["6.6.6.6"], PROXY) == "198.51.100.4"
    assert client_address("127.0.0.1", ["6.6.6.6, 7.7.7.7"], TrustedProxies()) == "127.0.0.1"


def test_behind_trusted_proxies_the_right_most_untrusted_hop_is_the_visitor():
    # The visitor wrote "6.6.6.6"; the outer proxy appended the visitor's real address, the inner one its own.
    assert client_address("10.0.0.2", ["6.6.6.6, 198.51.100.4, 10.0.0.9"], PROXY) == "198.51.100.4"
    assert client_address("10.0.0.2", ["6.6.6.6", "198.51.100.4:5123"], PROXY) == "198.51.100.4"  # two header lines
    assert client_address("10.0.0.2", [], PROXY) == "10.0.0.2"  # a trusted peer that forwarded nothing
    assert client_address("10.0.0.2", ["10.0.0.5, 192.0.2.7"], PROXY) == "10.0.0.5"  # all trusted: the farthest
    # A hop that is no address was not written by a proxy we trust: the nearest trusted hop stands.
    assert client_address("10.0.0.2", ["198.51.100.4, unknown"], PROXY) == "10.0.0.2"
    assert client_address("10.0.0.2", ["[2001:db8::1]:443"], PROXY) == "2001:db8::1"


@hypothesis_settings(max_examples=hypothesis_examples(300), deadline=None)
@given(
    spoofed=st.lists(st.one_of(ipv4, ipv6, st.text(max_size=20)), max_size=4),
    visitor=public_ipv4,
    proxies=st.lists(proxy_ipv4, max_size=3),
    peer=proxy_ipv4,
)
def test_whatever_a_visitor_writes_before_its_hop_the_address_is_its_own(spoofed, visitor, proxies, peer):
    """The attack: any X-Forwarded-For the visitor sends (addresses, trusted ones, junk, commas), followed
    by the hops the trusted proxies append: the visitor's own address, then theirs."""
    header = ", ".join([*spoofed, visitor, *proxies])
    assert client_address(peer, [header], PROXY) == visitor


@hypothesis_settings(max_examples=hypothesis_examples(200), deadline=None)
@given(peer=st.one_of(ipv4, ipv6), header=st.text(max_size=60))
def test_without_trusted_proxies_no_header_changes_the_address(peer, header):
    assert client_address(peer, [header], TrustedProxies()) == str(parse_address(peer))


def test_the_quota_counts_an_ipv6_visitor_by_its_network():
    assert quota_address("2001:db8:1:2:aaaa::1") == quota_address("2001:db8:1:2:ffff::9") == "2001:db8:1:2::/64"
    assert quota_address("2001:db8:1:3::1") != quota_address("2001:db8:1:2::1")
    assert quota_address("::ffff:198.51.100.4") == quota_address("198.51.100.4") == "198.51.100.4"


def test_a_session_counts_under_its_visitor_and_the_address_the_server_saw():
    context = SessionContext(hosted=True, trusted_proxies=TrustedProxies.parse("127.0.0.1"))
    behind = context.session(request("127.0.0.1", "6.6.6.6, 198.51.100.4"))
    assert behind.address == "198.51.100.4" and "ip:198.51.100.4" in behind.quota_keys
    direct = SessionContext(hosted=True).session(request("127.0.0.1", "6.6.6.6, 198.51.100.4"))
    assert direct.address == "127.0.0.1" and "ip:127.0.0.1" in direct.quota_keys
    assert Session(visitor="v", job_key="j", keys={}, address="2001:db8::1").quota_keys == ("v", "ip:2001:db8::/64")


# -- the signed visitor id -----------------------------------------------------------------------


def test_only_an_id_this_server_signed_is_adopted():
    context = SessionContext(hosted=True, visitor_secret="s" * 32)
    victim = context.assign_visitor("", request("127.0.0.1", session_hash="victim"))
    victim_id = context.session(request("127.0.0.1", session_hash="victim")).visitor
    assert victim.startswith(victim_id + ".") and len(victim_id) >= 32
    assert context.assign_visitor(victim, request("127.0.0.1", session_hash="again")) == victim  # a reload keeps it
    assert context.session(request("127.0.0.1", session_hash="again")).visitor == victim_id

    mac = victim.rpartition(".")[2]
    forgeries = [
        victim_id,  # the bare id, as the page stored it before ids were signed
        victim_id + ".",
        victim_id + "." + mac[:-1] + ("A" if mac[-1] != "A" else "B"),
        "x" * 40 + "." + mac,
        VisitorSigner("another server's secret").sign(victim_id),
        {"visitor": victim_id},
        None,
    ]
    for number, forged in enumerate(forgeries):
        token = context.assign_visitor(forged, request("127.0.0.1", session_hash=f"attacker{number}"))
        visitor = context.session(request("127.0.0.1", session_hash=f"attacker{number}")).visitor
        assert visitor != victim_id and token != victim and token.startswith(visitor + "."), forged
    # Another process with the same secret (a restart) adopts the token it signed before.
    restarted = SessionContext(hosted=True, visitor_secret="s" * 32)
    restarted.assign_visitor(victim, request("127.0.0.1", session_hash="after-restart"))
    assert restarted.session(request("127.0.0.1", session_hash="after-restart")).visitor == victim_id


# -- the secret on disk ----------------------------------------------------------------------------


def test_the_secret_file_is_made_once_and_an_empty_one_counts_as_missing(tmp_path: Path):
    settings = PlaygroundSettings.from_mapping({})
    first = browser_secret(settings, tmp_path)
    path = tmp_path / ".browser-secret"
    assert len(first) >= 32 and path.read_text() == first and path.stat().st_mode & 0o777 == 0o600
    assert browser_secret(settings, tmp_path) == first  # a restart keeps it
    path.write_text("")  # a crash or a full disk at the first start left it empty
    second = browser_secret(settings, tmp_path)
    assert second and second != first and path.read_text() == second
    assert browser_secret(settings, tmp_path) == second  # and the one made then is kept from now on
    path.write_text("  \n")
    assert browser_secret(settings, tmp_path) not in ("", second)
    assert sorted(p.name for p in tmp_path.iterdir()) == [".browser-secret"]  # no temporary file left behind
    configured = PlaygroundSettings.from_mapping({"PLAYGROUND_SECRET": "an operator's long secret"})
    assert browser_secret(configured, tmp_path) == "an operator's long secret"
