"""Which IP addresses a delivery may connect to (the SSRF rule), as a pure function."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")


def embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, 6to4, Teredo, NAT64, compatible)."""
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64 or ip in _NAT64_LOCAL:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if int(ip) >> 32 == 0 and int(ip) > 1:  # deprecated IPv4-compatible ::a.b.c.d
        return ipaddress.IPv4Address(int(ip))
    return None


def is_public(ip: IPAddress) -> bool:
    """Globally routable unicast; every address an IPv6 form embeds must be public too."""
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None and not is_public(inner):
            return False
        if ip.sixtofour is not None:
            # 6to4 reaches exactly the IPv4 address it carries, public as checked above; newer
            # Pythons' ipaddress calls all of 2002::/16 non-global, older ones judge the form
            return True
    return bool(ip.is_global) and not ip.is_multicast and not ip.is_reserved


def may_connect(ip: IPAddress, allowed: Sequence[IPNetwork]) -> bool:
    """Public addresses, and non-public ones inside an explicitly allowed network."""
    if is_public(ip):
        return True
    candidates: list[IPAddress] = [ip]
    if isinstance(ip, ipaddress.IPv6Address):
        inner = embedded_ipv4(ip)
        if inner is not None:
            candidates.append(inner)
    return any(c in net for c in candidates for net in allowed if c.version == net.version)


_DECIMAL = re.compile(r"[1-9][0-9]*")
_OCTAL = re.compile(r"0[0-7]*")
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")


def host_address(host: str) -> IPAddress | None:
    """The IP address a URL's host names literally, or None when it is a name.

    Besides the usual forms (``10.0.0.5``, ``[::1]``) this reads the ones the C library's
    ``inet_aton`` takes and a URL may carry: ``2130706433``, ``0x7f000001``, ``0177.0.0.1``,
    ``127.1``; a name is never made of only those.
    """
    bare = host.strip("[]")
    try:
        return ipaddress.ip_address(bare)
    except ValueError:
        pass
    parts = bare.removesuffix(".").split(".")
    if not 1 <= len(parts) <= 4:
        return None
    numbers: list[int] = []
    for part in parts:
        if _HEX.fullmatch(part):
            numbers.append(int(part[2:] or "0", 16))
        elif _OCTAL.fullmatch(part):
            numbers.append(int(part, 8))
        elif _DECIMAL.fullmatch(part):
            numbers.append(int(part))
        else:
            return None
    *head, last = numbers
    # a.b.c.d, a.b.c (c fills 16 bits), a.b (b fills 24), a (32 bits)
    if any(n > 255 for n in head) or last >= 256 ** (4 - len(head)):
        return None
    value = last
    for i, n in enumerate(head):
        value += n << (8 * (3 - i))
    return ipaddress.IPv4Address(value)
