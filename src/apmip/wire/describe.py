"""Plain, JSON-ready views of decoded messages, for `apmip decode`, logs and traces.

Owns: turning a message and its options into dicts of str/int/bool/list, with registry names
next to numbers and apmip's attestation options spelled out (which tshark cannot show).
Must never: change a message, raise for any decoded message, or do I/O.
"""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from typing import Any

from apmip.errors import DecodeError

from . import attestation, registry
from .base import Option
from .messages import BindingAck, BindingError, GenericMessage, Message
from .options import (
    AccessTechnologyType,
    HandoffIndicator,
    MobileNodeIdentifier,
    Timestamp,
    UnknownOption,
    VendorSpecific,
)

_NAMED: dict[tuple[type[Any], str], type[enum.IntEnum]] = {
    (BindingAck, "status"): registry.Status,
    (BindingError, "status"): registry.BindingErrorStatus,
    (HandoffIndicator, "value"): registry.HandoffIndicator,
    (AccessTechnologyType, "value"): registry.AccessTechnologyType,
}


_OPAQUE = {"cookie", "keygen_token"}


def _name(kind: type[enum.IntEnum], value: int) -> str | None:
    try:
        return kind(value).name
    except ValueError:
        return None


def _plain(value: Any) -> Any:
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, ipaddress.IPv4Address | ipaddress.IPv6Address):
        return str(value)
    if isinstance(value, ipaddress.IPv6Network):
        return str(value)
    return repr(value)


def _fields(item: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for spec in dataclasses.fields(item):
        if spec.name.startswith("_") or spec.name == "options":
            continue
        value = getattr(item, spec.name)
        if spec.name in _OPAQUE and isinstance(value, int):
            # cookies and tokens are opaque octets, shown as tshark shows them
            out[spec.name] = f"0x{value:016x}"
            continue
        out[spec.name.rstrip("_")] = _plain(value)
        kind = _NAMED.get((type(item), spec.name))
        if kind is not None and isinstance(value, int):
            name = _name(kind, value)
            if name:
                out[f"{spec.name}_name"] = name
    return out


def describe_option(
    option: Option, vendor_id: int = attestation.DEFAULT_VENDOR_ID
) -> dict[str, Any]:
    """One option as a dict: ``option`` (its name), ``type`` and its fields."""
    out: dict[str, Any] = {"option": option.NAME, "type": option.option_type}
    out.update(_fields(option))
    if isinstance(option, UnknownOption):
        out["option"] = f"unknown option {option.type}"
    if isinstance(option, Timestamp):
        out["seconds"] = option.seconds
    if isinstance(option, MobileNodeIdentifier):
        text = option.identifier.decode("utf-8", "replace")
        if text.isprintable() and "\ufffd" not in text:
            out["identifier_text"] = text
    if isinstance(option, VendorSpecific):
        try:
            item = attestation.parse_option(option, vendor_id)
        except DecodeError as exc:
            out["attestation_error"] = str(exc)
            return out
        if isinstance(item, attestation.AttestationRequest):
            out["attestation"] = {
                "kind": "request",
                "nonce": item.nonce.hex(),
                "flags": item.flags,
            }
        elif isinstance(item, attestation.EvidenceFragment):
            out["attestation"] = {
                "kind": "evidence fragment",
                "index": item.index,
                "count": item.count,
                "total": item.total,
                "chunk": len(item.chunk),
            }
    return out


def describe_message(
    message: Message, vendor_id: int = attestation.DEFAULT_VENDOR_ID
) -> dict[str, Any]:
    """A message as a dict: ``message`` (its name), ``mh_type``, fields, ``options``.

    When the message carries apmip attestation options, ``attestation`` tells what was
    requested and whether the evidence reassembles (its size, and the evidence's own
    description when ``apmip.attest`` can parse it).
    """
    out: dict[str, Any] = {"message": message.NAME, "mh_type": message.mh_type}
    if isinstance(message, GenericMessage):
        try:
            out["message"] = f"{registry.MHType(message.type).name} (not modelled)"
        except ValueError:
            out["message"] = f"MH type {message.type} (not modelled)"
    out.update(_fields(message))
    if hasattr(message, "lifetime"):
        out["lifetime_seconds"] = message.lifetime * 4
    out["options"] = [describe_option(option, vendor_id) for option in message.options]
    summary = _attestation(message, vendor_id)
    if summary:
        out["attestation"] = summary
    return out


def _attestation(message: Message, vendor_id: int) -> dict[str, Any]:
    ours = any(
        isinstance(o, VendorSpecific)
        and o.vendor_id == vendor_id
        and o.subtype in (attestation.SUBTYPE_REQUEST, attestation.SUBTYPE_EVIDENCE)
        for o in message.options
    )
    if not ours:
        return {}
    try:
        found = attestation.read_attestation(message, vendor_id)
    except DecodeError as exc:
        return {"error": str(exc)}
    out: dict[str, Any] = {}
    if found.request is not None:
        out["nonce"] = found.request.nonce.hex()
        out["flags"] = found.request.flags
    if found.evidence is not None:
        out["evidence_size"] = len(found.evidence)
        described = describe_evidence(found.evidence)
        if described is not None:
            out["evidence"] = described
    return out


def describe_evidence(blob: bytes) -> dict[str, Any] | str | None:
    """What ``apmip.attest`` says about an evidence blob, if it is there to say it.

    None when the attestation package is not available; a string naming the fault when
    the blob does not parse (a peer may send anything).
    """
    try:
        from apmip.attest.evidence import Evidence
    except ImportError:
        return None
    from apmip.errors import ApmipError

    try:
        described: dict[str, Any] = Evidence.from_bytes(blob).describe()
    except ApmipError as exc:
        return f"not parsable: {exc}"
    except Exception as exc:  # a bug there must not stop a capture from being shown
        return f"not parsable ({type(exc).__name__}): {exc}"
    result: dict[str, Any] = _jsonable(described)
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return _plain(value)
