"""Requests to addresses an administrator typed (IM robots, webhooks), kept out of the
server's own networks.

An address is refused when its host is, or resolves to, a loopback, link-local (where cloud
metadata services live: 169.254.169.254, Tencent's 169.254.0.23), private, shared
(100.64.0.0/10, with Alibaba Cloud's metadata at 100.100.100.200), unique-local, site-local,
multicast, reserved or unspecified address, in IPv4 or IPv6, including IPv4 addresses carried
inside IPv6 (mapped, 6to4, Teredo, NAT64).

RONGHE_OUTBOUND_ALLOWED_HOSTS opens internal addresses (loopback, private, shared, unique-local)
for robots an enterprise runs inside its own network: to a URL whose host name is listed, or to
an address that is itself listed, whatever name leads to it. Loopback is treated like the rest:
it is reached only through an explicit entry, its name ("localhost", a relay's name) or its
address ("127.0.0.1"). Some addresses are never reached, listed or not, because no robot lives
there and a listed name may resolve, or be rebound, to them: link-local (where most cloud
metadata services answer), the metadata services elsewhere (Alibaba Cloud's 100.100.100.200,
AWS's fd00:ec2::254, Oracle's 192.0.0.192, Azure's 168.63.129.16), and addresses that name no
single host (0.0.0.0, which reaches this server's own listeners; multicast; reserved).

The host name is resolved once, every address it gives is checked, and the request goes to a
checked address with the original name in the Host header and for TLS (SNI and certificate
check): an answer that changes between check and connect (DNS rebinding) cannot move it.
Redirects are never followed, and no environment proxy is used (a proxy would resolve the name
again, out of reach of the check).
"""

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from app.i18n import N_

if TYPE_CHECKING:
    import httpx

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BAD_URL = N_("Enter an http:// or https:// address with a host name.")
INTERNAL = N_(
    "This address leads into an internal network. Messages may only go to public addresses, "
    "or to hosts listed in RONGHE_OUTBOUND_ALLOWED_HOSTS."
)
FORBIDDEN = N_(
    "This address leads to a cloud metadata service or to a link-local, multicast or reserved "
    "address, where messages may never go, even for hosts listed in "
    "RONGHE_OUTBOUND_ALLOWED_HOSTS."
)
UNRESOLVED = N_("The host name in the address could not be resolved.")

NAT64 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("64:ff9b:1::/48"))
METADATA = frozenset(
    ipaddress.ip_address(a)
    for a in ("100.100.100.200", "fd00:ec2::254", "192.0.0.192", "168.63.129.16")
)
THIS_NETWORK = ipaddress.ip_network("0.0.0.0/8")


class Refused(Exception):
    """The address may not be used; the message is a message id, translated where shown."""


@dataclass(frozen=True)
class Target:
    url: "httpx.URL"
    addresses: tuple[str, ...]  # checked, in the order the resolver gave them


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if any(address in network for network in NAT64):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_internal(address: IPAddress) -> bool:
    """Not a public unicast address: one this server must not be made to talk to."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None and is_internal(inner):
            return True
        if address.is_site_local:
            return True
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
        or not address.is_global
    )


def is_forbidden(address: IPAddress) -> bool:
    """An address no entry of the allow-list opens (see the module's text)."""
    if isinstance(address, ipaddress.IPv6Address):
        inner = _embedded_ipv4(address)
        if inner is not None and is_forbidden(inner):
            return True
        # IPv6's "reserved" ::/8 holds ::1 and the IPv4-carrying forms, judged above.
        reserved = False
    else:
        reserved = address.is_reserved or address in THIS_NETWORK
    return (
        address in METADATA
        or address.is_link_local
        or address.is_unspecified
        or address.is_multicast
        or reserved
    )


def _ip(text: str) -> IPAddress | None:
    try:
        # A zone ("fe80::1%eth0") says which interface, not which address.
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def _host_key(host: str) -> str:
    address = _ip(host.strip("[]"))
    return str(address) if address is not None else host.lower().rstrip(".")


def allowed_hosts(setting: str) -> frozenset[str]:
    """The comma-separated host names (or addresses) of RONGHE_OUTBOUND_ALLOWED_HOSTS."""
    return frozenset(_host_key(h.strip()) for h in setting.split(",") if h.strip())


def _host(url: "httpx.URL") -> str:
    """The host as it goes on the wire: an IDN name in its ASCII (punycode) form."""
    return url.raw_host.decode("ascii")


def _port(url: "httpx.URL") -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def parse(url: str) -> "httpx.URL":
    # imported here: httpx costs 0.1–0.6 s at start and only outbound addresses need it
    import httpx

    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError):
        raise Refused(BAD_URL) from None
    if parsed.scheme not in ("http", "https") or not parsed.raw_host:
        raise Refused(BAD_URL)
    return parsed


def _resolve(host: str, port: int) -> list[str]:
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise Refused(UNRESOLVED) from None
    found: list[str] = []
    for *_rest, sockaddr in answers:
        address = str(sockaddr[0])
        if address not in found:
            found.append(address)
    if not found:
        raise Refused(UNRESOLVED)
    return found


def _check_all(addresses: Iterable[str], *, host: str, allowed: frozenset[str]) -> None:
    """Refuse unless every address may be reached: a public one always, an internal one
    when the URL's host name or that very address is listed, a forbidden one never."""
    parsed = [_ip(text) for text in addresses]
    if any(address is not None and is_forbidden(address) for address in parsed):
        raise Refused(FORBIDDEN)
    host_listed = _host_key(host) in allowed
    for address in parsed:
        if address is None:
            raise Refused(INTERNAL)
        if is_internal(address) and not (host_listed or str(address) in allowed):
            raise Refused(INTERNAL)


def check_for_saving(url: str, *, allowed: frozenset[str]) -> None:
    """Refuse an address that leads inside. A name that does not resolve now is accepted:
    the check is made again, authoritatively, before every request."""
    parsed = parse(url)
    host = _host(parsed)
    literal = _ip(host)
    if literal is not None:
        _check_all([str(literal)], host=host, allowed=allowed)
        return
    try:
        addresses = _resolve(host, _port(parsed))
    except Refused:
        return
    _check_all(addresses, host=host, allowed=allowed)


def target(url: str, *, allowed: frozenset[str]) -> Target:
    """The URL and the addresses a request may go to, resolved once and checked."""
    parsed = parse(url)
    host = _host(parsed)
    addresses = _resolve(host, _port(parsed))
    _check_all(addresses, host=host, allowed=allowed)
    return Target(url=parsed, addresses=tuple(addresses))


def post(
    url: str,
    *,
    content: bytes,
    headers: dict[str, str],
    allowed: frozenset[str],
    timeout: float,
) -> "httpx.Response":
    """POST to a checked address of the URL's host (trying the next one if it cannot be
    reached); raises Refused, or httpx's own errors."""
    import httpx  # see parse

    where = target(url, allowed=allowed)
    # The URL's host as the client sent it: "name" or "name:port" (no user info).
    host_header = where.url.netloc.decode("ascii")
    extensions = {"sni_hostname": _host(where.url)} if where.url.scheme == "https" else {}
    unreachable: list[httpx.TransportError] = []
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout) as client:
        for address in where.addresses:
            try:
                return client.post(
                    where.url.copy_with(host=address),
                    content=content,
                    headers={**headers, "Host": host_header},
                    extensions=extensions,
                )
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                unreachable.append(exc)
    raise unreachable[-1]  # there is at least one address: _resolve refuses none
