"""EXPOSE port specs and STOPSIGNAL names, checked as BuildKit and moby check them.

``EXPOSE 8000-8002/udp`` becomes three ``ExposedPorts`` keys; a host part
(``127.0.0.1:80:80``) is accepted but ignored, as BuildKit does.  STOPSIGNAL
accepts a number or a Linux signal name with or without ``SIG``.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["PortError", "parse_ports", "parse_signal"]

_SIGNALS = frozenset(
    {
        "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO",
        "IOT", "KILL", "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP",
        "SYS", "TERM", "TRAP", "TSTP", "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM",
        "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
    }
    | {f"RTMIN+{i}" for i in range(1, 16)}
    | {f"RTMAX-{i}" for i in range(1, 15)}
)  # fmt: skip
_INT = re.compile(r"[+-]?[0-9]+")


class PortError(ValueError):
    """An EXPOSE or STOPSIGNAL value BuildKit refuses."""


def parse_signal(raw: str) -> None:
    """moby ``signal.ParseSignal``: raise :class:`PortError` for an unknown signal."""
    if _INT.fullmatch(raw):
        if int(raw) == 0:
            raise PortError(f"invalid signal: {raw}")
        return
    name = raw.upper()
    if name.startswith("SIG"):
        name = name[3:]
    if name not in _SIGNALS:
        raise PortError(f"invalid signal: {raw}")


def _port_number(raw: str) -> int:
    if raw == "":
        raise PortError("value is empty")
    if not _INT.fullmatch(raw):
        raise PortError("invalid syntax")
    port = int(raw)
    if not 0 <= port <= 65535:
        raise PortError("value out of range (0–65535)")
    return port


def _port_range(ports: str) -> tuple[int, int]:
    if ports == "":
        raise PortError("empty string specified for ports")
    start, dash, end = ports.partition("-")
    try:
        first = _port_number(start)
    except PortError as err:
        raise PortError(f"invalid start port '{start}': {err}") from None
    if not dash or start == end:
        return first, first
    try:
        last = _port_number(end)
    except PortError as err:
        raise PortError(f"invalid end port '{end}': {err}") from None
    if last < first:
        raise PortError(f"invalid port range: {ports}")
    return first, last


def _split_parts(raw: str) -> tuple[str, str, str]:
    parts = raw.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def _parse_port(raw: str) -> list[str]:
    ip, host_port, container = _split_parts(raw)
    port, _, proto = container.partition("/")
    if port == "":
        raise PortError(f'invalid port: "{raw}": no port specified')
    if proto.lower() not in ("", "tcp", "udp", "sctp"):
        raise PortError(f'invalid port: "{raw}": invalid proto: {proto}')
    proto = proto or "tcp"
    if ip.startswith("["):
        ip = ip[1:].split("]", 1)[0]
    if ip:
        try:
            ipaddress.ip_address(ip)
        except ValueError:
            raise PortError(f"invalid IP address: {ip}") from None
    try:
        start, end = _port_range(port)
    except PortError:
        raise PortError(f"invalid containerPort: {port}") from None
    if host_port:
        try:
            host_start, host_end = _port_range(host_port)
        except PortError:
            raise PortError(f"invalid hostPort: {host_port}") from None
        if end - start != host_end - host_start and end != start:
            raise PortError(
                f"invalid ranges specified for container and host Ports: {port} and {host_port}"
            )
    return [f"{n}/{proto.lower()}" for n in range(start, end + 1)]


def parse_ports(ports: list[str]) -> list[str]:
    """``port/proto`` keys for EXPOSE words, in order (ranges expanded)."""
    out: list[str] = []
    for raw in ports:
        out.extend(_parse_port(raw))
    return out
