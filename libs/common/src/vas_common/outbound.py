"""Calling URLs that someone outside gave us (partner webhooks) without letting them reach
inside: an address policy, a guard that applies it to a URL when it is accepted, and an httpx
transport whose connections go only to addresses the guard has just checked.

Written here rather than taken from a library: httpx-secure always refuses non-global addresses
(no allowlist, which tests and the local stack need) and safehttpx only GETs and asks a public
DNS-over-HTTPS resolver; neither offers the check without a connection that the accept path needs.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpcore
import httpx
from async_lru import alru_cache

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], Awaitable[Sequence[IPAddress]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class ForbiddenDestination(Exception):
    """A URL or address that the policy does not let us call; `reason` says why, for people."""

    def __init__(self, host: str, reason: str) -> None:
        super().__init__(f"{host}: {reason}")
        self.host = host
        self.reason = reason


def embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 one carries and that a stack may end up connecting to:
    IPv4-mapped, IPv4-compatible, 6to4, Teredo (its client) and NAT64."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64 or (address in _IPV4_COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def address_refusal(address: IPAddress) -> str | None:
    """Why no request may go to `address` (loopback, private, …); None for a global unicast one."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = embedded_ipv4(address)
        if inner is not None:
            refusal = address_refusal(inner)
            return f"carries {inner}, a {refusal}" if refusal else None
    for reason, flagged in (
        ("unspecified", address.is_unspecified),
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("multicast", address.is_multicast),
        ("private", address.is_private),
        ("reserved", address.is_reserved),
    ):
        if flagged:
            return f"{reason} address"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local address"
    return None if address.is_global else "non-global address"


@dataclass(frozen=True)
class AddressPolicy:
    """Which URLs may be called: https (http only when allowed), and only hosts whose every
    address is global unicast, except hosts and networks listed as allowed."""

    allow_http: bool = False
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[IPNetwork, ...] = field(default=())

    @classmethod
    def of(cls, allow_http: bool, allowed: Iterable[str]) -> AddressPolicy:
        """From settings: each allowed entry is a network ("10.0.0.0/8", "127.0.0.1") or a host name."""
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for entry in allowed:
            try:
                networks.append(ipaddress.ip_network(entry.strip("[]"), strict=False))
            except ValueError:
                hosts.add(entry.lower().rstrip("."))
        return cls(allow_http, frozenset(hosts), tuple(networks))

    def scheme_refusal(self, scheme: str) -> str | None:
        if scheme == "https" or (scheme == "http" and self.allow_http):
            return None
        return "only https URLs are called" if scheme == "http" else f"scheme {scheme!r} is not called"

    def host_is_allowed(self, host: str) -> bool:
        return host.lower().rstrip(".") in self.allowed_hosts

    def refusal(self, address: IPAddress) -> str | None:
        if any(address in network for network in self.allowed_networks):
            return None
        return address_refusal(address)


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for `host`, without blocking the event loop.
    getaddrinfo also reads the numeric forms of an address ("2130706433", "0x7f000001", "127.1")."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).partition("%")[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


class OutboundGuard:
    """Applies an `AddressPolicy` to URLs (`check_url`, with verdicts on host names cached for
    `cache_ttl_s`) and to connections (`addresses_to_connect`, never cached)."""

    def __init__(
        self, policy: AddressPolicy, *, resolve: Resolve = system_resolve, cache_ttl_s: float = 30.0
    ) -> None:
        self.policy = policy
        self._resolve = resolve
        # Found or forbidden, a host's verdict is kept a little while: the accept path checks
        # every request's URL and most partners use one or two hosts.
        self._host_refusal: Callable[[str], Awaitable[str | None]] = (
            alru_cache(maxsize=10_000, ttl=cache_ttl_s)(self._resolved_refusal)
            if cache_ttl_s > 0
            else self._resolved_refusal
        )

    async def check_url(self, url: str) -> None:
        """Raise `ForbiddenDestination` unless `url` may be called now."""
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL as exc:
            raise ForbiddenDestination(url, f"not a URL ({exc})") from exc
        host = parsed.host
        refusal = self.policy.scheme_refusal(parsed.scheme)
        if refusal is None and not self.policy.host_is_allowed(host):
            literal = _ip_literal(host)
            refusal = self.policy.refusal(literal) if literal is not None else await self._host_refusal(host)
        if refusal is not None:
            raise ForbiddenDestination(host, refusal)

    async def addresses_to_connect(self, host: str, port: int) -> list[IPAddress]:
        """`host`'s addresses, resolved now, all of them allowed; else `ForbiddenDestination`."""
        literal = _ip_literal(host)
        if literal is not None:
            addresses: Sequence[IPAddress] = [literal]
        else:
            try:
                addresses = await self._resolve(host, port)
            except OSError as exc:
                raise ForbiddenDestination(host, f"does not resolve ({exc})") from exc
        if not addresses:
            raise ForbiddenDestination(host, "does not resolve")
        if not self.policy.host_is_allowed(host):
            for address in addresses:
                refusal = self.policy.refusal(address)
                if refusal is not None:
                    raise ForbiddenDestination(host, f"resolves to {address}, {refusal}")
        return list(addresses)

    async def _resolved_refusal(self, host: str) -> str | None:
        try:
            await self.addresses_to_connect(host, 443)
        except ForbiddenDestination as exc:
            return exc.reason
        return None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


class GuardedNetworkBackend(httpcore.AsyncNetworkBackend):
    """Opens a TCP connection only to an address the guard has just checked, so a DNS answer
    that changes between the check and the connection (rebinding) cannot take us elsewhere.
    httpcore still starts TLS with the URL's host name (SNI, certificate check) and httpx sends
    it as the Host header."""

    def __init__(self, guard: OutboundGuard, inner: httpcore.AsyncNetworkBackend | None = None) -> None:
        self._guard = guard
        self._inner = inner or httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        try:
            async with asyncio.timeout(timeout):
                addresses = await self._guard.addresses_to_connect(host, port)
        except TimeoutError as exc:
            raise httpcore.ConnectTimeout(f"resolving {host} took over {timeout}s") from exc
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise ForbiddenDestination(path, "unix sockets are not called")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def guarded_transport(
    guard: OutboundGuard, *, verify: ssl.SSLContext | bool = True, limits: httpx.Limits | None = None
) -> httpx.AsyncHTTPTransport:
    """An httpx transport that connects through `GuardedNetworkBackend`. A request it refuses
    raises `ForbiddenDestination` (not an httpx error) before anything is sent."""
    limits = limits or httpx.Limits()
    transport = httpx.AsyncHTTPTransport(verify=verify, limits=limits)
    # httpx takes no network backend of its own; its connection pool is where httpcore takes one.
    transport._pool = httpcore.AsyncConnectionPool(
        ssl_context=verify if isinstance(verify, ssl.SSLContext) else httpx.create_ssl_context(verify=verify),
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=GuardedNetworkBackend(guard),
    )
    return transport
