"""The SSRF rule: which addresses a delivery may connect to."""

from __future__ import annotations

import ipaddress

import pytest

from hookline.core.addresses import embedded_ipv4, host_address, is_public, may_connect

LOOPBACK_NETS = [ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128")]


@pytest.mark.parametrize("addr", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2002:808:808::1"])
def test_public_addresses(addr: str) -> None:
    assert is_public(ipaddress.ip_address(addr))
    assert may_connect(ipaddress.ip_address(addr), [])


@pytest.mark.parametrize(
    "addr",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "0.0.0.0",  # noqa: S104 - an address under test, not a bind
        "224.0.0.1",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fc00::1",
        "fd12:3456::1",
        "fe80::1",
        "ff02::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::ffff:169.254.169.254",
        "64:ff9b::a9fe:a9fe",
        "2002:7f00:1::1",
        "2002:a00:1::",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",
        "::127.0.0.1",
    ],
)
def test_non_public_addresses(addr: str) -> None:
    assert not is_public(ipaddress.ip_address(addr))
    assert not may_connect(ipaddress.ip_address(addr), [])


@pytest.mark.parametrize(
    ("addr", "inner"),
    [
        ("::ffff:10.0.0.1", "10.0.0.1"),
        ("2002:7f00:1::1", "127.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", "127.0.0.1"),
        ("64:ff9b::a9fe:a9fe", "169.254.169.254"),
        ("64:ff9b:1::a00:1", "10.0.0.1"),
        ("::127.0.0.1", "127.0.0.1"),
    ],
)
def test_embedded_ipv4(addr: str, inner: str) -> None:
    ip = ipaddress.IPv6Address(addr)
    assert embedded_ipv4(ip) == ipaddress.IPv4Address(inner)


@pytest.mark.parametrize("addr", ["::1", "::", "2606:4700:4700::1111", "fe80::1"])
def test_no_embedded_ipv4(addr: str) -> None:
    assert embedded_ipv4(ipaddress.IPv6Address(addr)) is None


def test_allowed_networks_open_only_themselves() -> None:
    assert may_connect(ipaddress.ip_address("127.0.0.1"), LOOPBACK_NETS)
    assert may_connect(ipaddress.ip_address("::1"), LOOPBACK_NETS)
    assert may_connect(ipaddress.ip_address("::ffff:127.0.0.1"), LOOPBACK_NETS)
    assert not may_connect(ipaddress.ip_address("10.0.0.1"), LOOPBACK_NETS)
    assert not may_connect(ipaddress.ip_address("169.254.169.254"), LOOPBACK_NETS)
    assert not may_connect(ipaddress.ip_address("fc00::1"), LOOPBACK_NETS)


# -- IP literals as a URL's host names them -----------------------------------------------------
@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("10.0.0.5", "10.0.0.5"),
        ("[::1]", "::1"),
        ("::ffff:127.0.0.1", "::ffff:7f00:1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("10.1.2", "10.1.0.2"),
        ("0", "0.0.0.0"),  # noqa: S104 - a literal read, not an address bound
        ("1.2.3.4.", "1.2.3.4"),
    ],
)
def test_host_address_reads_every_literal_form(host: str, expected: str) -> None:
    # compared as addresses: Python 3.13 writes an IPv4-mapped address in its dotted form
    assert host_address(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "host", ["example.com", "localhost", "1.2.3.4.5", "256.1.1.1", "4294967296", "08.1.1.1", "1e3"]
)
def test_host_address_leaves_names_alone(host: str) -> None:
    assert host_address(host) is None
