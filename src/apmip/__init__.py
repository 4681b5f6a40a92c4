"""apmip: Proxy Mobile IPv6 (RFC 5213) with TPM 2.0 attestation of the MAG and the LMA."""

__version__ = "0.1.0"
