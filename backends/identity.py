"""Who a hosted visitor is, in ways the visitor cannot mint: the network address the server sees (or the
one a trusted proxy appended), and a visitor id signed by this server.

``X-Forwarded-For`` is written by whoever sends the request; each proxy appends the address it saw on
its right. So only the hops appended by proxies the operator trusts mean anything: the address is read
from the right, past the trusted proxies, and the first hop that is not one of them is the visitor's.
A request from a peer that is not trusted is that peer, whatever its headers say.

An IPv6 visitor is counted by its /64 network: one household's line gets a /64 and can take any address
in it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["PRIVATE_NETWORKS", "TrustedProxies", "VisitorSigner", "client_address", "quota_address"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

# The private ranges a platform's own proxies use (Hugging Face Spaces' sit at 10.x addresses).
PRIVATE_NETWORKS: tuple[str, ...] = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")


@dataclass(frozen=True)
class TrustedProxies:
    """The proxies whose ``X-Forwarded-For`` hops are believed (``PLAYGROUND_TRUSTED_PROXIES``)."""

    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, text: str | None) -> TrustedProxies:
        """``"10.0.0.5, 192.168.0.0/16"``; ``private`` stands for the private ranges, ``none`` for no proxy.
        Raises ValueError naming the entry that is neither an address nor a network."""
        networks: list[Network] = []
        for raw in (text or "").split(","):
            item = raw.strip()
            if not item or item.lower() == "none":
                continue
            if item.lower() == "private":
                networks.extend(ipaddress.ip_network(n) for n in PRIVATE_NETWORKS)
                continue
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                raise ValueError(f"{item!r} is not an address or a network (CIDR)") from None
        return cls(tuple(dict.fromkeys(networks)))

    @classmethod
    def private(cls) -> TrustedProxies:
        return cls.parse("private")

    def trusts(self, address: Address | None) -> bool:
        return address is not None and any(address.version == n.version and address in n for n in self.networks)

    def __bool__(self) -> bool:
        return bool(self.networks)


def parse_address(text: str | None) -> Address | None:
    """An address as a peer or a hop writes it (``1.2.3.4``, ``1.2.3.4:5678``, ``[::1]:80``, ``::1``), or None."""
    if not text:
        return None
    value = text.strip().strip('"')
    if value.startswith("["):
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:
        value = value.partition(":")[0]
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_address(peer: str | None, forwarded_for: Iterable[str], trusted: TrustedProxies) -> str:
    """The visitor's address: ``peer`` (the connection's other end), or, when the peer is a trusted
    proxy, the right-most ``X-Forwarded-For`` hop that is not a trusted proxy. A hop that is no address
    ends the walk at the last trusted hop (whoever wrote it was not a proxy we trust). "" for no peer."""
    current = parse_address(peer)
    if current is None:
        return (peer or "").strip()
    if not trusted.trusts(current):
        return str(current)
    hops = [hop for value in forwarded_for for hop in value.split(",")]
    for hop in reversed(hops):
        address = parse_address(hop)
        if address is None:
            break
        current = address
        if not trusted.trusts(address):
            break
    return str(current)


def quota_address(address: str) -> str:
    """What the quota counts for an address: the address itself, or an IPv6 address's /64 network."""
    parsed = parse_address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed) if parsed is not None else address


class VisitorSigner:
    """Visitor ids issued and signed by this server (HMAC-SHA256 with the server's secret), so the token
    a browser keeps is refused unless this server made it. ``token`` is ``id.signature``."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("the visitor signing secret is empty")
        self._key = hashlib.sha256(b"kolors-playground visitor id\0" + secret.encode()).digest()

    def issue(self) -> tuple[str, str]:
        """A new visitor id (32 random characters) and its token."""
        visitor = secrets.token_urlsafe(24)
        return visitor, self.sign(visitor)

    def sign(self, visitor: str) -> str:
        return f"{visitor}.{self._mac(visitor)}"

    def verify(self, token: object) -> str | None:
        """The visitor id ``token`` carries when this server signed it, else None."""
        if not isinstance(token, str) or len(token) > 200 or not token.isascii():
            return None
        visitor, dot, mac = token.rpartition(".")
        if not dot or len(visitor) < 32:
            return None
        return visitor if hmac.compare_digest(mac, self._mac(visitor)) else None

    def _mac(self, visitor: str) -> str:
        digest = hmac.new(self._key, visitor.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")
