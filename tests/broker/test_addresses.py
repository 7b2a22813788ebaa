"""Where a brokered request may go, as pure functions: address classes, numeric
host spellings, URL parsing, allowedHosts matching, the operator's allowances
and the choice of the address to connect to. Nothing here opens a socket or
asks DNS (resolving once is tested with the fake upstream, test_exchange.py)."""

from __future__ import annotations

import ipaddress

import pytest

from loomal.broker.addresses import (
    EgressPolicy,
    check_allowance,
    effective_address,
    forbidden_reason,
)
from loomal.broker.urls import (
    IPAddress,
    canonical_host,
    check_host_pattern,
    host_allowed,
    parse_url,
)
from loomal.errors import BadRequestError, ValidationError


def ip(text: str) -> IPAddress:
    return ipaddress.ip_address(text)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("172.31.255.255", "private"),
        ("192.168.1.1", "private"),
        ("169.254.1.1", "link-local"),
        ("169.254.169.254", "cloud metadata"),
        ("100.100.100.200", "cloud metadata"),
        ("100.64.0.1", "shared (CGNAT)"),
        ("100.127.255.254", "shared (CGNAT)"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("239.255.255.250", "multicast"),
        ("255.255.255.255", "broadcast"),
        ("240.0.0.1", "reserved"),
        ("192.0.2.1", "documentation"),
        ("::", "unspecified"),
        ("::1", "loopback"),
        ("fc00::1", "private (ULA)"),
        ("fd12:3456::1", "private (ULA)"),
        ("fd00:ec2::254", "cloud metadata"),
        ("fe80::1", "link-local"),
        ("ff02::1", "multicast"),
        ("2001:db8::1", "documentation"),
        ("::ffff:127.0.0.1", "loopback, as IPv4-mapped IPv6"),
        ("::ffff:10.0.0.1", "private, as IPv4-mapped IPv6"),
        ("::ffff:169.254.169.254", "cloud metadata, as IPv4-mapped IPv6"),
        ("::127.0.0.2", "loopback, as IPv4-compatible IPv6"),
        ("::a9fe:a9fe", "cloud metadata, as IPv4-compatible IPv6"),
        ("64:ff9b::7f00:1", "loopback, as NAT64 IPv6"),
        ("64:ff9b::a9fe:a9fe", "cloud metadata, as NAT64 IPv6"),
        ("64:ff9b::c0a8:101", "private, as NAT64 IPv6"),
        ("2002:7f00:1::1", "loopback, as 6to4 IPv6"),
        ("2002:a9fe:a9fe::", "cloud metadata, as 6to4 IPv6"),
        ("2002:0a00:0001::", "private, as 6to4 IPv6"),
        ("64:ff9b:1::1", "reserved (local NAT64)"),
        ("2001:0:4136:e378::1", "reserved (Teredo)"),
    ],
)
def test_forbidden_addresses(address: str, reason: str) -> None:
    assert forbidden_reason(ip(address)) == reason


@pytest.mark.parametrize(
    "address",
    ["8.8.8.8", "93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8", "64:ff9b::808:808",
     "2002:808:808::1", "100.63.255.255", "100.128.0.0", "172.32.0.1"],
)  # fmt: skip
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ip(address)) is None


@pytest.mark.parametrize(
    ("host", "canonical"),
    [
        ("2130706433", "127.0.0.1"),
        ("2130706434", "127.0.0.2"),
        ("0x7f.1", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("0xa9.0xfe.0xa9.0xfe", "169.254.169.254"),
        ("[::FFFF:127.0.0.2]", "::ffff:7f00:2"),
        ("[0:0:0:0:0:0:0:1]", "::1"),
        ("API.Example.COM.", "api.example.com"),
        ("bücher.example", "xn--bcher-kva.example"),
    ],
)
def test_numeric_and_odd_spellings_become_one_canonical_host(host: str, canonical: str) -> None:
    assert canonical_host(host) == canonical


@pytest.mark.parametrize("host", ["a..b", "-a.com", "1.2.3.4.5", "256.1.1.1.1", "[fe80::1%eth0]"])
def test_hosts_that_are_not_hosts(host: str) -> None:
    with pytest.raises(ValidationError):
        canonical_host(host)


def test_parse_url() -> None:
    t = parse_url("https://API.example.com/v1/x?a=1#frag")
    assert (t.scheme, t.host, t.port, t.path, t.query) == (
        "https",
        "api.example.com",
        443,
        "/v1/x",
        "a=1",
    )
    assert t.display() == "https://api.example.com/v1/x"
    assert parse_url("http://2130706434:8080").host == "127.0.0.2"
    assert parse_url("http://[::ffff:127.0.0.2]/").host == "::ffff:7f00:2"
    v6 = parse_url("https://[2001:db8::1]:8443/p")
    assert v6.authority == "[2001:db8::1]:8443"
    assert v6.url(address=ip("2001:db8::2")) == "https://[2001:db8::2]:8443/p"
    base = parse_url("https://a.example.com/v1/list?x=1")
    assert parse_url("/v2", base=base).url() == "https://a.example.com:443/v2"
    assert parse_url("next", base=base).path == "/v1/next"
    assert parse_url("//b.example.com/z", base=base).host == "b.example.com"
    for bad in ("ftp://a.com/", "https://user:pw@a.com/", "https://allowed.com@evil.com/",
                "https://a.com\\@b.com/", "https://a.com/ x", "/relative", "https://:80/",
                "file:///etc/passwd", "https://a.com:99999/"):  # fmt: skip
        with pytest.raises(ValidationError):
            parse_url(bad)


def test_allowed_hosts_patterns() -> None:
    patterns = [check_host_pattern(p) for p in ["API.stripe.com", "*.example.com", "::1"]]
    assert patterns == ["api.stripe.com", "*.example.com", "::1"]
    assert host_allowed("api.stripe.com", patterns)
    assert host_allowed("a.example.com", patterns) and host_allowed("a.b.example.com", patterns)
    assert not host_allowed("example.com", patterns)
    assert not host_allowed("evilexample.com", patterns)
    assert not host_allowed("stripe.com", patterns)
    assert not host_allowed("api.stripe.com.evil.io", patterns)
    for bad in ("*", "*.1.2.3.4", "https://a.com", "a.com/x", "a.com:443", "", "*.*.a.com"):
        with pytest.raises(ValidationError):
            check_host_pattern(bad)


def choose(policy: EgressPolicy, url: str, *addresses: str) -> IPAddress:
    target = parse_url(url)
    return policy.choose_address(target, [ip(a) for a in addresses or [target.host]])


def test_the_first_reachable_address_is_chosen() -> None:
    policy = EgressPolicy()
    assert choose(policy, "https://mixed.test/", "10.0.0.1", "93.184.216.34") == ip("93.184.216.34")
    with pytest.raises(BadRequestError) as refused:
        choose(policy, "https://inside.test/", "10.9.9.9")
    assert refused.value.reason == "forbidden_address"
    assert "10.9.9.9 (private)" in refused.value.message
    with pytest.raises(BadRequestError):
        choose(policy, "https://169.254.169.254/latest/meta-data/")


def test_allowances() -> None:
    policy = EgressPolicy.from_allowances(
        ["10.0.0.0/8", "127.0.0.1", "169.254.0.0/16", "Internal.Example"]
    )
    assert policy.allow_private == ("10.0.0.0/8", "127.0.0.1", "169.254.0.0/16", "internal.example")
    assert choose(policy, "https://db.internal/", "10.1.1.1") == ip("10.1.1.1")
    assert choose(policy, "https://localhost/", "127.0.0.1", "::1") == ip("127.0.0.1")
    with pytest.raises(BadRequestError):  # a network allowance never opens the metadata address
        choose(policy, "https://169.254.169.254/")
    assert choose(policy, "https://169.254.1.2/") == ip("169.254.1.2")
    exact = EgressPolicy.from_allowances(["169.254.169.254"])
    assert choose(exact, "http://169.254.169.254/") == ip("169.254.169.254")
    assert policy.allows_http(parse_url("http://127.0.0.1:8080/"))
    assert policy.allows_http(parse_url("http://10.2.3.4/"))
    assert policy.allows_http(parse_url("http://internal.example/"))
    assert not policy.allows_http(parse_url("http://localhost/"))
    assert not policy.allows_http(parse_url("http://127.0.0.2/"))
    with pytest.raises(ValidationError):
        check_allowance("10.0.0.0/33")


@pytest.mark.parametrize("allowance", ["::/0", "2000::/3", "::/1"])
@pytest.mark.parametrize(
    "address",
    ["::ffff:127.0.0.1", "::ffff:10.0.0.1", "::ffff:169.254.169.254", "::127.0.0.2",
     "64:ff9b::7f00:1", "2002:7f00:1::1", "2002:a9fe:a9fe::"],
)  # fmt: skip
def test_an_ipv6_allowance_opens_no_ipv4_address_through_its_ipv6_spelling(
    allowance: str, address: str
) -> None:
    """#28.15: ``--fetch-allow-private ::/0`` allowed ``[::ffff:127.0.0.1]``."""
    policy = EgressPolicy.from_allowances([allowance])
    literal = f"https://[{address}]/"
    with pytest.raises(BadRequestError) as refused:
        choose(policy, literal)
    assert refused.value.reason == "forbidden_address"
    with pytest.raises(BadRequestError):
        choose(policy, "https://name.test/", address)
    assert not policy.allows_http(parse_url(f"http://[{address}]/"))


def test_an_ipv6_allowance_still_opens_ipv6_addresses() -> None:
    policy = EgressPolicy.from_allowances(["::/0"])
    assert choose(policy, "https://[fd12::1]/") == ip("fd12::1")
    assert choose(policy, "https://[::1]/") == ip("::1")
    with pytest.raises(BadRequestError):  # the metadata address needs its own name
        choose(policy, "https://[fd00:ec2::254]/")


@pytest.mark.parametrize(
    "allowance", ["::ffff:0:0/96", "::ffff:127.0.0.0/104", "64:ff9b::/96", "2002::/16", "::/96"]
)
def test_an_ipv6_network_of_ipv4_spellings_is_refused_as_an_allowance(allowance: str) -> None:
    with pytest.raises(ValidationError) as refused:
        check_allowance(allowance)
    assert "IPv4 network" in refused.value.message


@pytest.mark.parametrize(
    ("allowance", "reached"),
    [("127.0.0.1", "::ffff:127.0.0.1"), ("::ffff:127.0.0.1", "127.0.0.1"),
     ("127.0.0.0/8", "64:ff9b::7f00:1"), ("::ffff:7f00:1", "2002:7f00:1::")],
)  # fmt: skip
def test_an_allowance_means_the_same_addresses_in_every_spelling(
    allowance: str, reached: str
) -> None:
    policy = EgressPolicy.from_allowances([allowance])
    assert choose(policy, "https://name.test/", reached) == ip(reached)
    assert policy.allows_http(parse_url(f"http://[{reached}]/" if ":" in reached else
                                        f"http://{reached}/"))  # fmt: skip


@pytest.mark.parametrize(
    "spelling",
    ["169.254.169.254", "[::ffff:169.254.169.254]", "[::ffff:a9fe:a9fe]", "[64:ff9b::a9fe:a9fe]",
     "[2002:a9fe:a9fe::]", "0xa9fea9fe", "[fd00:ec2::254]", "100.100.100.200"],
)  # fmt: skip
def test_a_metadata_address_opens_only_when_named_exactly(spelling: str) -> None:
    broad = EgressPolicy.from_allowances(
        ["0.0.0.0/0", "::/0", "169.254.0.0/16", "fc00::/7", "metadata.test"]
    )
    with pytest.raises(BadRequestError) as refused:
        choose(broad, f"https://{spelling}/")
    assert "cloud metadata" in refused.value.message
    target = canonical_host(spelling)
    named = EgressPolicy.from_allowances([str(effective_address(ip(target)))])
    assert choose(named, f"https://{spelling}/") == ip(target)
    with pytest.raises(BadRequestError):  # a name that resolves there is not the address
        choose(broad, "https://metadata.test/", target)
