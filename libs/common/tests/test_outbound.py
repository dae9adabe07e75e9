"""The outbound address policy and guard: every inside address is refused in each of its
spellings, a host name is judged by all its addresses, and the guarded transport connects to the
address it checked while the request still names the host."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import httpx
import pytest
from fastapi import FastAPI, Request

from vas_common.outbound import (
    AddressPolicy,
    ForbiddenDestination,
    IPAddress,
    OutboundGuard,
    address_refusal,
    guarded_transport,
)
from vas_devstack.pytest_plugin import serve_http


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "::1",
        "0.0.0.0",  # noqa: S104
        "::",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.169.254",
        "fe80::1",
        "fc00::1",
        "fd12:3456::1",
        "224.0.0.1",
        "ff02::1",
        "240.0.0.1",
        "255.255.255.255",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::127.0.0.1",
        "2002:7f00:1::",
        "64:ff9b::a00:1",
        "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    ],
)
def test_inside_addresses_are_refused(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is not None


@pytest.mark.parametrize("address", ["93.184.216.34", "8.8.8.8", "2001:4860:4860::8888", "::ffff:8.8.8.8"])
def test_global_unicast_addresses_are_allowed(address: str) -> None:
    assert address_refusal(ipaddress.ip_address(address)) is None


def test_the_policy_allows_listed_networks_and_hosts_and_http_only_when_told() -> None:
    policy = AddressPolicy.of(allow_http=False, allowed=["127.0.0.1", "10.0.0.0/8", "Hooks.Internal."])
    assert policy.refusal(ipaddress.ip_address("127.0.0.1")) is None
    assert policy.refusal(ipaddress.ip_address("10.9.9.9")) is None
    assert policy.refusal(ipaddress.ip_address("127.0.0.2")) is not None
    assert policy.host_is_allowed("hooks.internal")
    assert policy.scheme_refusal("http") is not None
    assert AddressPolicy(allow_http=True).scheme_refusal("http") is None
    assert policy.scheme_refusal("https") is None


class ScriptedResolver:
    """Answers each lookup of a host with the next of its scripted answers (the last one repeats)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> Sequence[IPAddress]:
        self.lookups.append(host)
        script = self.answers[host]
        answer = script.pop(0) if len(script) > 1 else script[0]
        return [ipaddress.ip_address(a) for a in answer]


async def test_a_host_is_refused_when_any_of_its_addresses_is_inside_and_verdicts_are_cached() -> None:
    resolver = ScriptedResolver(
        {"mixed.example": [["93.184.216.34", "10.0.0.1"]], "public.example": [["93.184.216.34"]]}
    )
    guard = OutboundGuard(AddressPolicy(), resolve=resolver)
    for _ in range(3):
        with pytest.raises(ForbiddenDestination, match=r"10\.0\.0\.1"):
            await guard.check_url("https://mixed.example/hook")
        await guard.check_url("https://public.example/hook")
    assert sorted(resolver.lookups) == ["mixed.example", "public.example"]


@pytest.mark.parametrize("host", ["localhost", "2130706433", "0x7f000001", "127.1"])
async def test_names_and_numeric_spellings_of_loopback_are_refused_through_the_system_resolver(
    host: str,
) -> None:
    with pytest.raises(ForbiddenDestination, match="loopback"):
        await OutboundGuard(AddressPolicy()).check_url(f"https://{host}/hook")


async def test_a_metadata_host_name_is_refused_by_its_address() -> None:
    resolver = ScriptedResolver({"metadata.google.internal": [["169.254.169.254"]]})
    with pytest.raises(ForbiddenDestination, match="link-local"):
        await OutboundGuard(AddressPolicy(), resolve=resolver).check_url("https://metadata.google.internal/")


async def test_the_guarded_transport_connects_to_the_checked_address_and_names_the_host() -> None:
    app = FastAPI()
    hosts: list[str] = []

    @app.post("/hook")
    async def hook(request: Request) -> dict[str, str]:
        hosts.append(request.headers["host"])
        return {}

    async with serve_http(app) as origin:
        port = httpx.URL(origin).port
        resolver = ScriptedResolver({"partner.example": [["127.0.0.1"], ["127.0.0.1"], ["10.0.0.1"]]})
        guard = OutboundGuard(AddressPolicy.of(allow_http=True, allowed=["127.0.0.1"]), resolve=resolver)
        transport = guarded_transport(guard, limits=httpx.Limits(max_keepalive_connections=0))
        async with httpx.AsyncClient(transport=transport) as client:
            url = f"http://partner.example:{port}/hook"
            assert (await client.post(url)).status_code == 200
            assert (await client.post(url)).status_code == 200
            with pytest.raises(ForbiddenDestination, match=r"resolves to 10\.0\.0\.1"):
                await client.post(url)
    assert hosts == [f"partner.example:{port}"] * 2
