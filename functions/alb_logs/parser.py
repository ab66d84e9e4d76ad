"""A quote-aware parser of one ALB access-log entry into the Athena table's columns.

The rules (AWS: "ignore fields you do not expect"): tokens are separated by spaces, text tokens
are double-quoted with `\\"` inside, `-` and `"-"` both mean "no value", tokens beyond the known
ones are kept as `additional_fields`, and a shorter (older) entry leaves the later columns None.
IPv6 addresses are not bracketed, so `addr:port` splits on the last colon.

This is the complete, per-line parser, used for records shown to people (`secauto logs alb`,
request samples). The per-file aggregation reads the same tokens through a faster path
(`aggregate`), which falls back to `tokenize` for any line it cannot take apart directly.
"""

from __future__ import annotations

import re
from typing import Any

from alb_logs.fields import FIELD_NAMES, MIN_TOKENS, TOKEN_NAMES, Token

__all__ = ["LineError", "decode", "parse_line", "parse_tokens", "split_address", "tokenize"]

#: A quoted token (escapes allowed inside) or a run of non-space characters.
_TOKEN = re.compile(rb'"((?:[^"\\]|\\.)*)"|(\S+)', re.DOTALL)
_ESCAPE = re.compile(rb"\\(.)", re.DOTALL)
_SECONDS = re.compile(rb"^-?\d+(\.\d+)?\Z")
_MISSING = b"-"


class LineError(ValueError):
    """The line is not an ALB access-log entry; the message says why."""


def decode(value: bytes) -> str:
    """Text of a log token. Log content is attacker-influenced: undecodable bytes stay visible."""
    return value.decode("utf-8", "backslashreplace")


def tokenize(line: bytes) -> list[bytes | None]:
    """The tokens of `line`, quotes removed and escapes resolved; `-`/`"-"` become None."""
    tokens: list[bytes | None] = []
    for quoted, bare in _TOKEN.findall(line):
        if bare:
            if b'"' in bare:
                # AWS escapes quotes inside quoted fields: a bare one means a broken entry.
                raise LineError("unbalanced quote")
            tokens.append(None if bare == _MISSING else bare)
        else:
            if b"\\" in quoted:
                quoted = _ESCAPE.sub(rb"\1", quoted)
            tokens.append(None if quoted == _MISSING else quoted)
    return tokens


def split_address(token: bytes | None, what: str) -> tuple[str | None, int | None]:
    """`addr:port` (IPv4, or IPv6 without brackets) into its address and port."""
    if token is None:
        return None, None
    address, colon, port = token.rpartition(b":")
    if not colon or not address or not port.isdigit() or len(port) > 5:
        raise LineError(f"{what} is not address:port: {decode(token)[:64]!r}")
    return decode(address), int(port)


def _integer(token: bytes | None, what: str) -> int | None:
    if token is None:
        return None
    if not token.isdigit():  # ASCII digits only: no sign, no "_", no spaces
        raise LineError(f"{what} is not a whole number: {decode(token)[:32]!r}")
    return int(token)


def _seconds(token: bytes | None, what: str) -> float | None:
    if token is None:
        return None
    if not _SECONDS.match(token):  # no "nan", "inf", "1_0" or exponents: AWS writes 0.001 or -1
        raise LineError(f"{what} is not a time in seconds: {decode(token)[:32]!r}")
    return float(token)


def _request(token: bytes | None) -> tuple[str | None, str | None, str | None]:
    """`VERB URL PROTO`; a malformed request line gives what it has, never an error."""
    if token is None:
        return None, None, None
    # AWS logs a request it could not parse as "- - - " (note the trailing space).
    words = token.strip(b" ").split(b" ", 2)
    if len(words) == 3 and b" " in words[2]:
        # A URL with spaces (the raw request line is logged): the protocol is the last word.
        url_tail, _, last = words[2].rpartition(b" ")
        words = [words[0], words[1] + b" " + url_tail, last]
    words += [b""] * (3 - len(words))
    verb, url, proto = (None if word in (b"", _MISSING) else decode(word) for word in words)
    return verb, url, proto


def parse_line(line: bytes | str) -> dict[str, Any]:
    """Every column of the entry on `line`; raises `LineError` when it is not one."""
    if isinstance(line, str):
        try:
            line = line.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            raise LineError("not text a log could hold (unpaired surrogate)") from None
    raw = line.rstrip(b"\r\n")
    if not raw.strip():
        raise LineError("blank line")
    return parse_tokens(tokenize(raw))


def parse_tokens(tokens: list[bytes | None]) -> dict[str, Any]:
    """The columns of an entry already split into `tokens`; raises `LineError`."""
    if len(tokens) < MIN_TOKENS:
        raise LineError(f"{len(tokens)} fields, an entry has at least {MIN_TOKENS}")
    known, extra = tokens[: len(TOKEN_NAMES)], tokens[len(TOKEN_NAMES) :]
    known += [None] * (len(TOKEN_NAMES) - len(known))
    text = {
        name: None if token is None else decode(token) for name, token in zip(TOKEN_NAMES, known, strict=True)
    }
    if known[Token.CLIENT] is None:
        raise LineError("no client address")
    client_ip, client_port = split_address(known[Token.CLIENT], "client")
    target_ip, target_port = split_address(known[Token.TARGET], "target")
    verb, url, proto = _request(known[Token.REQUEST])
    target_status = text["target_status_code"]
    if target_status is not None and not (
        len(target_status) == 3 and target_status.isdigit() and target_status[0] != "0"
    ):
        raise LineError(f"target_status_code is not a status code: {target_status[:16]!r}")
    elb_status = _integer(known[Token.ELB_STATUS], "elb_status_code")
    if elb_status is not None and not 100 <= elb_status <= 999:
        raise LineError(f"elb_status_code is not a status code: {elb_status}")
    values: dict[str, Any] = {
        **text,
        "client_ip": client_ip,
        "client_port": client_port,
        "target_ip": target_ip,
        "target_port": target_port,
        "request_verb": verb,
        "request_url": url,
        "request_proto": proto,
        "elb_status_code": elb_status,
        "received_bytes": _integer(known[Token.RECEIVED_BYTES], "received_bytes"),
        "sent_bytes": _integer(known[Token.SENT_BYTES], "sent_bytes"),
    }
    for index in (5, 6, 7):  # the three processing times
        values[TOKEN_NAMES[index]] = _seconds(known[index], TOKEN_NAMES[index])
    record = {name: values[name] for name in FIELD_NAMES}  # the Athena table's column order
    if extra:
        record["additional_fields"] = [None if token is None else decode(token) for token in extra]
    return record
