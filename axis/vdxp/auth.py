"""Who is calling a VDXP endpoint: the SDK's HMAC over its own headers, checked.

The SDK sends each of its parameters `X` as a header `XroadVnpt-X`, the JSON object of those
headers as `XroadVnpt-sign-header`, their names joined by `;` as `XroadVnpt-sign-header-key`,
and `XroadVnpt-hash-header`, the hex HMAC-SHA256 of the sign-header string under the secret
the axis issued for its `XroadVnpt-systemid`. The HMAC is checked over the bytes as received
(the SDK serialises a HashMap: its key order is not ours to reproduce), then every listed
header against the signed value, then the timestamp's window, then that the hash-header was
not seen inside that window (a replay). The body is not covered: the document's own XML
signature is what binds its content, and ingest checks it exactly as for `/v1`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers

from axis.problem import Problem
from axis.storage.models import VdxpAccess, VdxpSeenRequest, utcnow

PREFIX = "XroadVnpt-"
SIGN_HEADER = PREFIX + "sign-header"
SIGN_HEADER_KEY = PREFIX + "sign-header-key"
HASH_HEADER = PREFIX + "hash-header"
REQUIRED = ("systemid", "timestamp")
"""Parameters every signed set must hold: who is calling, and when."""
TIMESTAMP = re.compile(r"^(\d{2})(\d{2})(\d{4})T(\d{2})(\d{2})(\d{2})\+(\d{3,4})$")
"""Java's `ddMMyyyy'T'HHmmss+SSSS`: the `+` is a literal and SSSS the milliseconds
zero-padded to four digits; the time is the client's local clock, with no zone."""


@dataclass(frozen=True)
class VdxpCaller:
    """An authenticated VDXP request: the agency, and the parameters it signed."""

    agency_code: str
    system_id: str
    params: dict[str, str]
    """Signed parameters by lower-case name (`docid`, `messagetype`, `to`, `hash-file`)."""

    def param(self, name: str, default: str = "") -> str:
        return self.params.get(name.lower(), default)


class Refusal(Problem):
    """A refused authentication, with what is known of who tried (for the audit event)."""

    def __init__(self, status: int, code: str, detail: str, agency_code: str | None) -> None:
        Problem.__init__(self, status, code, "VDXP authentication refused", detail)
        self.agency_code = agency_code


def parse_timestamp(value: str, zone: ZoneInfo) -> datetime:
    """The SDK's timestamp as an aware datetime; ValueError when it is not one."""
    match = TIMESTAMP.match(value)
    if match is None:
        raise ValueError(f"{value!r} is not ddMMyyyy'T'HHmmss+SSSS")
    day, month, year, hour, minute, second, millis = (int(part) for part in match.groups())
    return datetime(year, month, day, hour, minute, second, millis * 1000, tzinfo=zone)


def format_timestamp(moment: datetime, zone: ZoneInfo) -> str:
    """`moment` as the SDK writes timestamps (the tests' clients use it too)."""
    local = moment.astimezone(zone)
    return local.strftime("%d%m%YT%H%M%S") + f"+{local.microsecond // 1000:04d}"


def _raw(value: str) -> bytes:
    """A header value's bytes as they came over the wire (ASGI decodes them as latin-1)."""
    return value.encode("latin-1")


async def authenticate(
    sessions: async_sessionmaker[AsyncSession],
    headers: Headers,
    *,
    window: timedelta,
    zone: ZoneInfo,
) -> VdxpCaller:
    """The caller of a VDXP request, or `Refusal` (401 bad credentials, 403 no access)."""
    system_id = headers.get(PREFIX + "systemid")
    sign_header = headers.get(SIGN_HEADER)
    sign_header_key = headers.get(SIGN_HEADER_KEY)
    hash_header = headers.get(HASH_HEADER)
    if not (system_id and sign_header and sign_header_key and hash_header):
        missing = "systemid, sign-header, sign-header-key and hash-header"
        raise Refusal(401, "unauthenticated", f"send the XroadVnpt- {missing} headers", None)
    async with sessions() as session:
        access = await session.scalar(select(VdxpAccess).where(VdxpAccess.system_id == system_id))
    if access is None or not access.enabled:
        raise Refusal(403, "vdxp_not_enabled", f"systemid {system_id} has no VDXP access", None)
    code = access.agency_code
    expected = hmac.new(access.secret.encode(), _raw(sign_header), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, hash_header.strip().lower()):
        raise Refusal(401, "bad_hmac", "the hash-header is not the HMAC of the sign-header", code)
    params = _signed_params(headers, sign_header, sign_header_key, code)
    if params.get("systemid") != system_id:
        raise Refusal(401, "bad_signed_headers", "the signed systemid is another", code)
    try:
        sent_at = parse_timestamp(params["timestamp"], zone)
    except ValueError as exc:
        raise Refusal(401, "bad_timestamp", str(exc), code) from exc
    now = utcnow()
    if abs(now - sent_at) > window:
        detail = f"the timestamp is more than {window.total_seconds():.0f} s from the axis clock"
        raise Refusal(401, "stale_timestamp", detail, code)
    await _remember(sessions, hash_header.strip().lower(), sent_at + window, now, code)
    return VdxpCaller(code, system_id, params)


def _signed_params(
    headers: Headers, sign_header: str, sign_header_key: str, code: str
) -> dict[str, str]:
    """The signed parameters by lower-case name, once each listed one is the header sent."""
    try:
        signed = json.loads(sign_header)
    except json.JSONDecodeError as exc:
        raise Refusal(401, "bad_signed_headers", "the sign-header is not JSON", code) from exc
    names = [name for name in sign_header_key.split(";") if name]
    if not isinstance(signed, dict) or set(signed) != {PREFIX + name for name in names}:
        detail = "the sign-header does not hold exactly the headers sign-header-key lists"
        raise Refusal(401, "bad_signed_headers", detail, code)
    params: dict[str, str] = {}
    for name in names:
        value = signed[PREFIX + name]
        if not isinstance(value, str) or headers.get(PREFIX + name) != value:
            raise Refusal(401, "bad_signed_headers", f"{PREFIX}{name} is not what was signed", code)
        params[name.lower()] = value
    absent = [name for name in REQUIRED if name not in params]
    if absent:
        raise Refusal(401, "bad_signed_headers", f"not signed: {', '.join(absent)}", code)
    return params


async def _remember(
    sessions: async_sessionmaker[AsyncSession],
    hash_header: str,
    expires_at: datetime,
    now: datetime,
    code: str,
) -> None:
    """Note the hash-header until its timestamp leaves the window; seen already: a replay.
    Expired ones are pruned on the way (an indexed range delete)."""
    try:
        async with sessions.begin() as session:
            await session.execute(delete(VdxpSeenRequest).where(VdxpSeenRequest.expires_at < now))
            session.add(VdxpSeenRequest(hash_header=hash_header, expires_at=expires_at))
    except IntegrityError as exc:
        raise Refusal(401, "replayed", "this hash-header was used already", code) from exc
