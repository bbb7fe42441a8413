"""Who is calling: the client address behind trusted proxies, allow lists, and direct-loopback checks."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from functools import lru_cache

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
UNKNOWN_IP = "unknown"
FORWARDING_HEADERS = ("X-Forwarded-For", "Forwarded", "X-Real-IP")


def parse_networks(items: Iterable[str], setting: str) -> tuple[IPNetwork, ...]:
    """Addresses or CIDR blocks from a setting; a bad entry raises ValueError naming the setting."""
    nets = []
    for item in items:
        try:
            nets.append(ipaddress.ip_network(item.strip(), strict=False))
        except ValueError:
            raise ValueError(f"{setting}: '{item}' is not an IP address or network") from None
    return tuple(nets)


@lru_cache(maxsize=4096)  # addresses are immutable values; a busy endpoint sees the same peers again and again
def _ip(text: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    if not text:
        return None
    try:
        addr = ipaddress.ip_address(text.strip())
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def in_networks(ip: str, nets: Sequence[IPNetwork]) -> bool:
    addr = _ip(ip)
    return addr is not None and any(addr in net for net in nets)


def resolve_client_ip(peer: str | None, forwarded_for: Sequence[str], trusted: Sequence[IPNetwork]) -> str:
    """The client address. X-Forwarded-For is read right to left, and only while each hop is a
    trusted proxy; the first untrusted hop is the client. A malformed hop gives UNKNOWN_IP."""
    addr = _ip(peer)
    if addr is None:
        return UNKNOWN_IP
    hops = [h.strip() for value in forwarded_for for h in value.split(",") if h.strip()]
    while trusted and any(addr in net for net in trusted) and hops:
        nxt = _ip(hops.pop())
        if nxt is None:
            return UNKNOWN_IP
        addr = nxt
    return str(addr)


def is_direct_loopback(peer: str | None, has_forwarding_headers: bool, trusted: Sequence[IPNetwork]) -> bool:
    """A local client talking to us directly — not a local reverse proxy relaying the internet."""
    addr = _ip(peer)
    if addr is None or not addr.is_loopback or has_forwarding_headers:
        return False
    return not any(addr in net for net in trusted)
