"""Number registries of the Mobility Header, as enums named after their RFCs.

This module owns the numbers only: no parsing, no I/O. Every value here was checked against
the RFC text that assigns it (the RFCs are cited per member), except where a member says it
was checked against copies of the IANA "mobility-parameters" registry instead (the 3GPP and
3GPP2 Access Technology Types, the RFC 3963 status codes); values that could be confirmed
neither way are left out rather than guessed. The codec never refuses a number just because
it is missing here: unknown MH types, option types, status codes and enum values decode and
survive a round trip.
"""

from __future__ import annotations

import enum

#: IPv6 Next Header value of the Mobility Header (RFC 6275 section 6.1).
IPPROTO_MH = 135
#: "No next header" (RFC 8200); the only valid Payload Proto (RFC 6275 section 6.1.1).
IPPROTO_NONE = 59
#: UDP port of PMIPv6 signalling over IPv4 ("pmip6-cntl", RFC 5844 section 6).
PMIP6_CNTL_PORT = 5436
#: UDP port of PMIPv6 data over IPv4 ("pmip6-data", RFC 5844 section 6).
PMIP6_DATA_PORT = 5437
#: A whole Mobility Header message is at most this long in this codec (see docs/wire-format.md).
MAX_MESSAGE = 2048
#: A mobility option carries at most this many bytes after its Type and Length octets.
MAX_OPTION_DATA = 255


class MHType(enum.IntEnum):
    """Mobility Header message types (the MH Type field, RFC 6275 section 6.1.1)."""

    #: Binding Refresh Request, RFC 6275 section 6.1.2
    BRR = 0
    #: Home Test Init, RFC 6275 section 6.1.3
    HOTI = 1
    #: Care-of Test Init, RFC 6275 section 6.1.4
    COTI = 2
    #: Home Test, RFC 6275 section 6.1.5
    HOT = 3
    #: Care-of Test, RFC 6275 section 6.1.6
    COT = 4
    #: Binding Update (and Proxy Binding Update), RFC 6275 section 6.1.7, RFC 5213 section 8.1
    BU = 5
    #: Binding Acknowledgement (and Proxy Binding Ack), RFC 6275 6.1.8, RFC 5213 section 8.2
    BA = 6
    #: Binding Error, RFC 6275 section 6.1.9
    BE = 7
    #: Experimental Mobility Header, RFC 5096 section 3
    EXPERIMENTAL = 11
    #: Heartbeat, RFC 5847 section 3.3
    HEARTBEAT = 13
    #: Binding Revocation (Indication and Acknowledgement), RFC 5846 section 5
    BINDING_REVOCATION = 16


class OptionType(enum.IntEnum):
    """Mobility option types (RFC 6275 section 6.2 and the RFCs that extend it)."""

    #: Pad1, RFC 6275 section 6.2.2
    PAD1 = 0
    #: PadN, RFC 6275 section 6.2.3
    PADN = 1
    #: Binding Refresh Advice, RFC 6275 section 6.2.4
    BINDING_REFRESH_ADVICE = 2
    #: Alternate Care-of Address, RFC 6275 section 6.2.5
    ALTERNATE_COA = 3
    #: Nonce Indices, RFC 6275 section 6.2.6
    NONCE_INDICES = 4
    #: Binding Authorization Data, RFC 6275 section 6.2.7
    BINDING_AUTH_DATA = 5
    #: Mobile Node Identifier, RFC 4283 section 3
    MN_ID = 8
    #: Mobility Message Authentication, RFC 4285 section 5
    MESSAGE_AUTH = 9
    #: Mobility Message Identification (replay protection), RFC 4285 section 6
    MESSAGE_ID = 10
    #: Experimental Mobility option, RFC 5096 section 4
    EXPERIMENTAL = 18
    #: Vendor-Specific Mobility option, RFC 5094 section 3
    VENDOR_SPECIFIC = 19
    #: Home Network Prefix, RFC 5213 section 8.3
    HOME_NETWORK_PREFIX = 22
    #: Handoff Indicator, RFC 5213 section 8.4
    HANDOFF_INDICATOR = 23
    #: Access Technology Type, RFC 5213 section 8.5
    ACCESS_TECHNOLOGY_TYPE = 24
    #: Mobile Node Link-layer Identifier, RFC 5213 section 8.6
    MN_LINK_LAYER_ID = 25
    #: Link-local Address, RFC 5213 section 8.7
    LINK_LOCAL_ADDRESS = 26
    #: Timestamp, RFC 5213 section 8.8
    TIMESTAMP = 27
    #: Restart Counter, RFC 5847 section 3.4
    RESTART_COUNTER = 28
    #: GRE Key, RFC 5845 section 6.1
    GRE_KEY = 33
    #: Binding Identifier, RFC 5648 section 4.3
    BINDING_ID = 35
    #: IPv4 Home Address Request, RFC 5844 section 3.3.1
    IPV4_HOA_REQUEST = 36
    #: IPv4 Home Address Reply, RFC 5844 section 3.3.2
    IPV4_HOA_REPLY = 37
    #: IPv4 Default-Router Address, RFC 5844 section 3.3.3
    IPV4_DEFAULT_ROUTER = 38
    #: IPv4 DHCP Support Mode, RFC 5844 section 3.3.4
    IPV4_DHCP_SUPPORT_MODE = 39
    #: Redirect-Capability, RFC 6463 section 4.1
    REDIRECT_CAPABILITY = 46
    #: Redirect, RFC 6463 section 4.2
    REDIRECT = 47
    #: Load Information, RFC 6463 section 4.3
    LOAD_INFORMATION = 48
    #: Alternate IPv4 Care-of Address, RFC 6463 section 4.4
    ALTERNATE_IPV4_COA = 49
    #: Mobile Node Group Identifier, RFC 6602 section 4.3
    MN_GROUP_ID = 50
    #: Anchored Prefix, RFC 8885 section 4.3
    ANCHORED_PREFIX = 65
    #: Local Prefix, RFC 8885 section 4.4
    LOCAL_PREFIX = 66
    #: Previous MAAR, RFC 8885 section 4.5
    PREVIOUS_MAAR = 67
    #: Serving MAAR, RFC 8885 section 4.6
    SERVING_MAAR = 68
    #: DLIF Link-local Address, RFC 8885 section 4.7
    DLIF_LINK_LOCAL_ADDRESS = 69
    #: DLIF Link-layer Address, RFC 8885 section 4.8
    DLIF_LINK_LAYER_ADDRESS = 70


class Status(enum.IntEnum):
    """Binding Acknowledgement status codes (RFC 6275 section 6.1.8); below 128 is success."""

    #: Binding Update accepted, RFC 6275 section 6.1.8 (PBU accepted, RFC 5213 section 8.9)
    ACCEPTED = 0
    #: Accepted but prefix discovery necessary, RFC 6275 section 6.1.8
    ACCEPTED_PREFIX_DISCOVERY = 1
    #: GRE_KEY_OPTION_NOT_REQUIRED, RFC 5845 section 6.4
    GRE_KEY_OPTION_NOT_REQUIRED = 2
    #: GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED, RFC 5845 section 6.4
    GRE_TUNNELING_BUT_TLV_HEADER_NOT_SUPPORTED = 3
    #: MCOA NOTCOMPLETE, RFC 5648 section 11
    MCOA_NOTCOMPLETE = 4
    #: MCOA RETURNHOME WO/NDP, RFC 5648 section 11
    MCOA_RETURNHOME_WO_NDP = 5
    #: Reason unspecified, RFC 6275 section 6.1.8
    REASON_UNSPECIFIED = 128
    #: Administratively prohibited, RFC 6275 section 6.1.8
    ADMINISTRATIVELY_PROHIBITED = 129
    #: Insufficient resources, RFC 6275 section 6.1.8
    INSUFFICIENT_RESOURCES = 130
    #: Home registration not supported, RFC 6275 section 6.1.8
    HOME_REGISTRATION_NOT_SUPPORTED = 131
    #: Not home subnet, RFC 6275 section 6.1.8
    NOT_HOME_SUBNET = 132
    #: Not home agent for this mobile node, RFC 6275 section 6.1.8
    NOT_HOME_AGENT = 133
    #: Duplicate Address Detection failed, RFC 6275 section 6.1.8
    DAD_FAILED = 134
    #: Sequence number out of window, RFC 6275 section 6.1.8
    SEQUENCE_OUT_OF_WINDOW = 135
    #: Expired home nonce index, RFC 6275 section 6.1.8
    EXPIRED_HOME_NONCE_INDEX = 136
    #: Expired care-of nonce index, RFC 6275 section 6.1.8
    EXPIRED_COA_NONCE_INDEX = 137
    #: Expired nonces, RFC 6275 section 6.1.8
    EXPIRED_NONCES = 138
    #: Registration type change disallowed, RFC 6275 section 6.1.8
    REGISTRATION_TYPE_CHANGE_DISALLOWED = 139
    #: Mobile Router Operation not permitted, RFC 3963 (NEMO; number as in the IANA registry)
    MOBILE_ROUTER_OPERATION_NOT_PERMITTED = 140
    #: Invalid Prefix, RFC 3963 (NEMO; number as in the IANA registry)
    INVALID_PREFIX = 141
    #: Not Authorized for Prefix, RFC 3963 (NEMO; number as in the IANA registry)
    NOT_AUTHORIZED_FOR_PREFIX = 142
    #: Forwarding Setup failed (prefixes missing), RFC 3963 (number as in the IANA registry)
    FORWARDING_SETUP_FAILED = 143
    #: MIPV6-ID-MISMATCH, RFC 4285 section 8
    MIPV6_ID_MISMATCH = 144
    #: MIPV6-MESG-ID-REQD, RFC 4285 section 8
    MIPV6_MESG_ID_REQD = 145
    #: MIPV6-AUTH-FAIL, RFC 4285 section 8
    MIPV6_AUTH_FAIL = 146
    #: PROXY_REG_NOT_ENABLED, RFC 5213 section 8.9
    PROXY_REG_NOT_ENABLED = 152
    #: NOT_LMA_FOR_THIS_MOBILE_NODE, RFC 5213 section 8.9
    NOT_LMA_FOR_THIS_MOBILE_NODE = 153
    #: MAG_NOT_AUTHORIZED_FOR_PROXY_REG, RFC 5213 section 8.9
    MAG_NOT_AUTHORIZED_FOR_PROXY_REG = 154
    #: NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX, RFC 5213 section 8.9
    NOT_AUTHORIZED_FOR_HOME_NETWORK_PREFIX = 155
    #: TIMESTAMP_MISMATCH, RFC 5213 section 8.9
    TIMESTAMP_MISMATCH = 156
    #: TIMESTAMP_LOWER_THAN_PREV_ACCEPTED, RFC 5213 section 8.9
    TIMESTAMP_LOWER_THAN_PREV_ACCEPTED = 157
    #: MISSING_HOME_NETWORK_PREFIX_OPTION, RFC 5213 section 8.9
    MISSING_HOME_NETWORK_PREFIX_OPTION = 158
    #: BCE_PBU_PREFIX_SET_DO_NOT_MATCH, RFC 5213 section 8.9
    BCE_PBU_PREFIX_SET_DO_NOT_MATCH = 159
    #: MISSING_MN_IDENTIFIER_OPTION, RFC 5213 section 8.9
    MISSING_MN_IDENTIFIER_OPTION = 160
    #: MISSING_HANDOFF_INDICATOR_OPTION, RFC 5213 section 8.9
    MISSING_HANDOFF_INDICATOR_OPTION = 161
    #: MISSING_ACCESS_TECH_TYPE_OPTION, RFC 5213 section 8.9
    MISSING_ACCESS_TECH_TYPE_OPTION = 162
    #: GRE_KEY_OPTION_REQUIRED, RFC 5845 section 6.4
    GRE_KEY_OPTION_REQUIRED = 163
    #: MCOA MALFORMED, RFC 5648 section 4.4
    MCOA_MALFORMED = 164
    #: MCOA NON-MCOA BINDING EXISTS, RFC 5648 section 4.4
    MCOA_NON_MCOA_BINDING_EXISTS = 165
    #: MCOA PROHIBITED, RFC 5648 section 4.4
    MCOA_PROHIBITED = 166
    #: MCOA UNKNOWN COA, RFC 5648 section 4.4
    MCOA_UNKNOWN_COA = 167
    #: MCOA BULK REGISTRATION PROHIBITED, RFC 5648 section 4.4
    MCOA_BULK_REGISTRATION_PROHIBITED = 168
    #: MCOA SIMULTANEOUS HOME AND FOREIGN PROHIBITED, RFC 5648 section 4.4
    MCOA_SIMULTANEOUS_HOME_AND_FOREIGN_PROHIBITED = 169
    #: NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE, RFC 5844 section 3.3.5
    NOT_AUTHORIZED_FOR_IPV4_MOBILITY_SERVICE = 170
    #: NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS, RFC 5844 section 3.3.5
    NOT_AUTHORIZED_FOR_IPV4_HOME_ADDRESS = 171
    #: NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE, RFC 5844 section 3.3.5
    NOT_AUTHORIZED_FOR_IPV6_MOBILITY_SERVICE = 172
    #: MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED, RFC 5844 section 3.3.5
    MULTIPLE_IPV4_HOME_ADDRESS_ASSIGNMENT_NOT_SUPPORTED = 173
    #: Invalid Care-of Address, RFC 6275 section 6.1.8
    INVALID_COA = 174
    #: INVALID_MOBILE_NODE_GROUP_IDENTIFIER, RFC 6602 section 4.4
    INVALID_MOBILE_NODE_GROUP_IDENTIFIER = 175


class HandoffIndicator(enum.IntEnum):
    """Handoff Indicator values (RFC 5213 section 8.4; value 6 from RFC 7864 section 7)."""

    RESERVED = 0
    #: Attachment over a new interface
    NEW_INTERFACE = 1
    #: Handoff between two different interfaces of the mobile node
    BETWEEN_INTERFACES = 2
    #: Handoff between mobile access gateways for the same interface
    BETWEEN_MAGS = 3
    #: Handoff state unknown
    UNKNOWN = 4
    #: Handoff state not changed (Re-registration)
    NOT_CHANGED = 5
    #: Attachment over a new interface sharing prefixes, RFC 7864 section 7
    NEW_INTERFACE_SHARING_PREFIXES = 6


class AccessTechnologyType(enum.IntEnum):
    """Access Technology Type values (RFC 5213 section 8.5 and the IANA registry it created).

    0-5 are assigned by RFC 5213 section 8.5. 6-12 come from the IANA "Access Technology Type
    Option Type Values" registry (mobility-parameters), which cites 3GPP TS 29.275 for the 3GPP
    values and 3GPP2 X.S0011 / X.S0054 / X.S0057 / X.P0061 for the 3GPP2 ones; the numbers
    were checked against three independent copies of that registry. Values IANA assigned later
    (such as 13, 3GPP NB-IoT) were not confirmed and are left out. The codec passes any value
    0-255 through, so a value missing here decodes as a plain integer.
    """

    RESERVED = 0
    #: Virtual ("Logical Network Interface"), RFC 5213 section 8.5
    VIRTUAL = 1
    #: PPP ("Point-to-Point Protocol"), RFC 5213 section 8.5
    PPP = 2
    #: IEEE 802.3 ("Ethernet"), RFC 5213 section 8.5
    IEEE_802_3 = 3
    #: IEEE 802.11a/b/g ("Wireless LAN"), RFC 5213 section 8.5
    IEEE_802_11 = 4
    #: IEEE 802.16e ("WIMAX"), RFC 5213 section 8.5
    IEEE_802_16E = 5
    #: 3GPP GERAN (GSM/EDGE radio), IANA registry, 3GPP TS 29.275
    GERAN = 6
    #: 3GPP UTRAN (UMTS radio), IANA registry, 3GPP TS 29.275
    UTRAN = 7
    #: 3GPP E-UTRAN (LTE radio), IANA registry, 3GPP TS 29.275
    E_UTRAN = 8
    #: 3GPP2 eHRPD, IANA registry, 3GPP2 X.S0057
    EHRPD = 9
    #: 3GPP2 HRPD, IANA registry, 3GPP2 X.P0061
    HRPD = 10
    #: 3GPP2 1xRTT, IANA registry, 3GPP2 X.S0011
    ONE_X_RTT = 11
    #: 3GPP2 UMB, IANA registry, 3GPP2 X.S0054
    UMB = 12


class MNIdSubtype(enum.IntEnum):
    """Mobile Node Identifier sub-types (RFC 4283 section 5)."""

    #: Network Access Identifier (RFC 4282), RFC 4283 section 3.1
    NAI = 1


class AuthSubtype(enum.IntEnum):
    """Mobility Message Authentication sub-types (RFC 4285 section 8)."""

    #: MN-HA mobility message authentication, RFC 4285 section 5.1
    MN_HA = 1
    #: MN-AAA mobility message authentication, RFC 4285 section 5.2
    MN_AAA = 2


class BUFlag(enum.IntFlag):
    """Binding Update flags, the 16-bit word after the Sequence # (RFC 5213 section 10)."""

    #: Acknowledge (A), RFC 6275 section 6.1.7
    A = 0x8000
    #: Home Registration (H), RFC 6275 section 6.1.7
    H = 0x4000
    #: Link-Local Address Compatibility (L), RFC 6275 section 6.1.7
    L = 0x2000
    #: Key Management Mobility Capability (K), RFC 6275 section 6.1.7
    K = 0x1000
    #: MAP Registration (M), RFC 4140 (listed in RFC 5213 section 10)
    M = 0x0800
    #: Mobile Router (R), RFC 3963 (listed in RFC 5213 section 10)
    R = 0x0400
    #: Proxy Registration (P), RFC 5213 section 8.1
    P = 0x0200
    #: Forcing UDP encapsulation (F), RFC 5555 (position shown in RFC 5845 section 6.2)
    F = 0x0100
    #: TLV-header format (T), RFC 5845 section 6.2
    T = 0x0080
    #: Bulk Binding Update (B), RFC 6602 section 4.1
    B = 0x0040
    #: DMM (D), RFC 8885 section 5
    D = 0x0010


class BAFlag(enum.IntFlag):
    """Binding Acknowledgement flags, the octet after Status (RFC 5213 section 10)."""

    #: Key Management Mobility Capability (K), RFC 6275 section 6.1.8
    K = 0x80
    #: Mobile Router (R), RFC 3963 (listed in RFC 5213 section 10)
    R = 0x40
    #: Proxy Registration (P), RFC 5213 section 8.2
    P = 0x20
    #: TLV-header format (T), RFC 5845 section 6.3
    T = 0x10
    #: Bulk Binding Update (B), RFC 6602 section 4.2
    B = 0x08
    #: DMM (D), RFC 8885 section 5
    D = 0x02


class BindingErrorStatus(enum.IntEnum):
    """Binding Error status values (RFC 6275 section 6.1.9)."""

    #: Unknown binding for Home Address destination option
    UNKNOWN_BINDING_FOR_HOA = 1
    #: Unrecognized MH Type value
    UNRECOGNIZED_MH_TYPE = 2


class RevocationType(enum.IntEnum):
    """Binding Revocation Type (RFC 5846 section 12)."""

    RESERVED = 0
    INDICATION = 1
    ACKNOWLEDGEMENT = 2


class RevocationTrigger(enum.IntEnum):
    """Revocation Trigger values of a Binding Revocation Indication (RFC 5846 section 12)."""

    UNSPECIFIED = 0
    ADMINISTRATIVE_REASON = 1
    INTER_MAG_HANDOVER_SAME_ACCESS_TYPE = 2
    INTER_MAG_HANDOVER_DIFFERENT_ACCESS_TYPE = 3
    INTER_MAG_HANDOVER_UNKNOWN = 4
    USER_INITIATED_SESSION_TERMINATION = 5
    ACCESS_NETWORK_SESSION_TERMINATION = 6
    POSSIBLE_OUT_OF_SYNC_BCE_STATE = 7
    PER_PEER_POLICY = 128
    REVOKING_MOBILITY_NODE_LOCAL_POLICY = 129


class RevocationStatus(enum.IntEnum):
    """Binding Revocation Acknowledgement status codes (RFC 5846 section 12)."""

    SUCCESS = 0
    PARTIAL_SUCCESS = 1
    BINDING_DOES_NOT_EXIST = 128
    IPV4_HOA_OPTION_REQUIRED = 129
    GLOBAL_REVOCATION_NOT_AUTHORIZED = 130
    REVOKED_MN_IDENTITY_REQUIRED = 131
    REVOCATION_FAILED_MN_ATTACHED = 132
    REVOCATION_TRIGGER_NOT_SUPPORTED = 133
    REVOCATION_FUNCTION_NOT_SUPPORTED = 134
    PROXY_BINDING_REVOCATION_NOT_SUPPORTED = 135


class IPv4HoAReplyStatus(enum.IntEnum):
    """Status of the IPv4 Home Address Reply option (RFC 5844 section 3.3.2 and 6)."""

    SUCCESS = 0
    FAILURE_REASON_UNSPECIFIED = 128
    ADMINISTRATIVELY_PROHIBITED = 129
    INCORRECT_IPV4_HOME_ADDRESS = 130
    INVALID_IPV4_ADDRESS = 131
    DYNAMIC_IPV4_HOA_NOT_AVAILABLE = 132


class MNGroupIdSubtype(enum.IntEnum):
    """Mobile Node Group Identifier sub-types (RFC 6602 section 7)."""

    #: Bulk Binding Update Group
    BULK_BINDING_UPDATE_GROUP = 1
