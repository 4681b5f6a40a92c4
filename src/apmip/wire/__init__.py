"""The wire layer: Mobility Header messages and options as bytes and back, without I/O.

``encode(message, src=, dst=)`` and ``decode(data, src=, dst=)`` are the codec; messages
(``BindingUpdate``, ``BindingAck`` ...) and options (``HomeNetworkPrefix`` ...) are frozen
dataclasses; ``attestation_options`` / ``read_attestation`` carry apmip's attestation
request and evidence in Vendor-Specific options. docs/wire-format.md describes the formats.
"""

from __future__ import annotations

from .attestation import (
    DEFAULT_STATUS_ATTESTATION_FAILED,
    DEFAULT_STATUS_ATTESTATION_REQUIRED,
    DEFAULT_VENDOR_ID,
    AttestationOptions,
    AttestationRequest,
    EvidenceFragment,
    attestation_options,
    read_attestation,
)
from .base import FieldError, Option
from .messages import BindingAck, BindingUpdate, GenericMessage, Message
from .mh import checksum, decode, encode
from .options import (
    AccessTechnologyType,
    AlternateCareOfAddress,
    BindingAuthorizationData,
    BindingRefreshAdvice,
    HandoffIndicator,
    HomeNetworkPrefix,
    LinkLocalAddress,
    MobileNodeIdentifier,
    MobileNodeLinkLayerIdentifier,
    NonceIndices,
    Pad1,
    PadN,
    Timestamp,
    UnknownOption,
    VendorSpecific,
)
from .registry import (
    MAX_MESSAGE,
    PMIP6_CNTL_PORT,
    BAFlag,
    BUFlag,
    MHType,
    OptionType,
    Status,
)
from .registry import AccessTechnologyType as ATT
from .registry import HandoffIndicator as HI

__all__ = [
    "ATT",
    "DEFAULT_STATUS_ATTESTATION_FAILED",
    "DEFAULT_STATUS_ATTESTATION_REQUIRED",
    "DEFAULT_VENDOR_ID",
    "HI",
    "MAX_MESSAGE",
    "PMIP6_CNTL_PORT",
    "AccessTechnologyType",
    "AlternateCareOfAddress",
    "AttestationOptions",
    "AttestationRequest",
    "BAFlag",
    "BUFlag",
    "BindingAck",
    "BindingAuthorizationData",
    "BindingRefreshAdvice",
    "BindingUpdate",
    "EvidenceFragment",
    "FieldError",
    "GenericMessage",
    "HandoffIndicator",
    "HomeNetworkPrefix",
    "LinkLocalAddress",
    "MHType",
    "Message",
    "MobileNodeIdentifier",
    "MobileNodeLinkLayerIdentifier",
    "NonceIndices",
    "Option",
    "OptionType",
    "Pad1",
    "PadN",
    "Status",
    "Timestamp",
    "UnknownOption",
    "VendorSpecific",
    "attestation_options",
    "checksum",
    "decode",
    "encode",
    "read_attestation",
]
