"""Where the axis may push: an agency's endpoint, never the axis's own surroundings.

A push URL must be `https`, and its host must not be, nor resolve to, a loopback,
link-local, unspecified or multicast address or a cloud metadata endpoint
(`169.254.169.254`, `fd00:ec2::254`, `metadata.google.internal`, ...), unless an operator
lists the host in `AXIS_PUSH_ALLOW_INSECURE_HOSTS` (names, addresses or networks; tests list
127.0.0.1). Private networks stay allowed: agencies' systems sit on government networks.

Why twice: the registry checks the URL as written (a literal address, a well-known name);
the push adapter checks every address the name resolves to when it delivers, and connects
to the address it checked, so a name that later resolves elsewhere (DNS rebinding) cannot
reach what the check refused.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

METADATA_NAMES = frozenset(
    {
        "localhost",
        "metadata",
        "metadata.google.internal",
        "metadata.goog",
        "instance-data",
        "instance-data.ec2.internal",
    }
)
"""Names that never lead to an agency: this host, and the clouds' instance metadata."""

REFUSED_NETWORKS: tuple[Network, ...] = tuple(
    ipaddress.ip_network(network)
    for network in (
        "0.0.0.0/8",  # "this network": Linux connects 0.x.x.x to the host itself
        "127.0.0.0/8",
        "169.254.0.0/16",  # link-local, AWS/Azure/GCP/OpenStack metadata at .169.254
        "100.100.100.200/32",  # Alibaba Cloud metadata
        "192.0.0.192/32",  # Oracle Cloud metadata
        "224.0.0.0/4",
        "255.255.255.255/32",
        "::/128",
        "::1/128",
        "fe80::/10",
        "fd00:ec2::254/128",  # AWS metadata over IPv6
        "ff00::/8",
    )
)
"""Addresses a push never goes to (loopback, link-local, unspecified, multicast, metadata)."""


class TargetRefused(ValueError):
    """A push URL or address that an operator's setting does not allow."""


def _host_key(host: str) -> str:
    """A host as written in a URL, compared: lower case, no brackets, no final dot."""
    return host.strip("[]").rstrip(".").lower()


def _literal(host: str) -> Address | None:
    """The address a host is written as, if it is one (IPv4-mapped IPv6 as its IPv4)."""
    try:
        address = ipaddress.ip_address(_host_key(host))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass(frozen=True)
class PushTargets:
    """What `AXIS_PUSH_ALLOW_INSECURE_HOSTS` allows beyond https to an ordinary address."""

    names: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = ()

    @classmethod
    def allowing(cls, hosts: Iterable[str]) -> PushTargets:
        """From the setting's entries: each a host name, an address or a network."""
        names, networks = set(), []
        for host in hosts:
            try:
                networks.append(ipaddress.ip_network(_host_key(host), strict=False))
            except ValueError:
                names.add(_host_key(host))
        return cls(frozenset(names), tuple(networks))

    def allows(self, host: str, address: Address | None = None) -> bool:
        """Whether the operator allowed this host (by name or address), or this address."""
        if _host_key(host) in self.names:
            return True
        candidates = [each for each in (_literal(host), address) if each is not None]
        return any(each in network for each in candidates for network in self.networks)

    def check_url(self, url: str) -> None:
        """Refuse (TargetRefused) a URL that is not https to an ordinary host."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if self.allows(host):
            return
        if parts.scheme != "https":
            raise TargetRefused(
                f"push URLs must be https; plain {parts.scheme} only to a host listed in "
                "AXIS_PUSH_ALLOW_INSECURE_HOSTS"
            )
        key = _host_key(host)
        if key in METADATA_NAMES or key.endswith(".localhost"):
            raise TargetRefused(f"{host} is this host or a metadata service, not an agency")
        literal = _literal(host)
        if literal is not None:
            self.check_address(host, literal)

    def check_address(self, host: str, address: Address) -> None:
        """Refuse (TargetRefused) an address a push to `host` must not reach."""
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if self.allows(host, address):
            return
        if any(address in network for network in REFUSED_NETWORKS):
            raise TargetRefused(
                f"{host} is {address}, a loopback, link-local, unspecified, multicast or "
                "metadata address (allowed only through AXIS_PUSH_ALLOW_INSECURE_HOSTS)"
            )

    async def resolve(self, host: str, port: int) -> str:
        """The address to connect to for `host`: every address it resolves to is checked
        (TargetRefused), the first is used. `OSError` when it does not resolve."""
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = [str(info[4][0]) for info in infos]
        if not addresses:
            raise OSError(f"{host} resolves to no address")
        for address in addresses:
            self.check_address(host, ipaddress.ip_address(address.partition("%")[0]))
        return addresses[0]
