"""One-line summaries of Mobility Header messages for the protocol trace and the demo."""

from __future__ import annotations

from typing import Any

from apmip.errors import DecodeError
from apmip.wire import mh
from apmip.wire.attestation import read_attestation
from apmip.wire.messages import BindingAck, BindingUpdate, Message
from apmip.wire.options import (
    AccessTechnologyType,
    HandoffIndicator,
    HomeNetworkPrefix,
    MobileNodeIdentifier,
    VendorSpecific,
)


def summarize(data: bytes, vendor_id: int = 32473) -> dict[str, Any]:
    """The facts of one message an operator reads first; never raises."""
    try:
        message = mh.decode(data)
    except DecodeError as exc:
        return {"type": "malformed", "size": len(data), "error": str(exc)}
    return describe(message, len(data), vendor_id)


def describe(message: Message, size: int, vendor_id: int = 32473) -> dict[str, Any]:
    info: dict[str, Any] = {"size": size}
    if isinstance(message, BindingUpdate):
        info["type"] = "PBU" if message.proxy else "BU"
        info["lifetime"] = message.lifetime_seconds
    elif isinstance(message, BindingAck):
        info["type"] = "PBA" if message.proxy else "BA"
        info["status"] = message.status
        info["lifetime"] = message.lifetime_seconds
    else:
        info["type"] = type(message).__name__
        return info
    info["seq"] = message.sequence
    mn = message.find(MobileNodeIdentifier)
    if mn is not None:
        info["mn"] = mn.identifier.decode("utf-8", "replace")
    hnp = message.find(HomeNetworkPrefix)
    if hnp is not None:
        info["hnp"] = str(hnp.prefix)
    hi = message.find(HandoffIndicator)
    if hi is not None:
        info["hi"] = hi.value
    att = message.find(AccessTechnologyType)
    if att is not None:
        info["att"] = att.value
    try:
        carried = read_attestation(message, vendor_id)
    except DecodeError as exc:
        info["attestation"] = f"malformed: {exc}"
        return info
    parts = []
    if carried.request is not None:
        parts.append(f"nonce {carried.request.nonce.hex()[:12]}..")
    if carried.evidence is not None:
        pieces = sum(
            1
            for o in message.find_all(VendorSpecific)
            if o.vendor_id == vendor_id and o.subtype == 2
        )
        parts.append(f"evidence {len(carried.evidence)} B in {pieces} options")
    if parts:
        info["attestation"] = ", ".join(parts)
    return info


def one_line(info: dict[str, Any]) -> str:
    """``PBU seq 7 mn1@x HNP ::/0 HI 1 ATT 4 [nonce ..]`` style text."""
    kind = info.get("type", "?")
    if kind == "malformed":
        return f"malformed {info['size']} B: {info['error']}"
    words = [kind]
    if "status" in info:
        words.append(f"status {info['status']}")
    if "seq" in info:
        words.append(f"seq {info['seq']}")
    if "mn" in info:
        words.append(info["mn"])
    if "hnp" in info:
        words.append(f"HNP {info['hnp']}")
    if "hi" in info:
        words.append(f"HI {info['hi']}")
    if "att" in info:
        words.append(f"ATT {info['att']}")
    if "lifetime" in info:
        words.append(f"lifetime {info['lifetime']} s")
    words.append(f"({info['size']} B)")
    if "attestation" in info:
        words.append(f"[{info['attestation']}]")
    return " ".join(words)
