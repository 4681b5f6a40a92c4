"""The one exception tree of apmip.

Every error the project raises on purpose derives from :class:`ApmipError`. Errors split by
who is at fault: the peer (a bad packet, bad evidence: :class:`PeerError` and its kin carry the
Binding Acknowledgement status to answer with), the operator (:class:`ConfigError` names the
file, the key and the fix), or the local platform (:class:`TpmError`).
"""

from __future__ import annotations


class ApmipError(Exception):
    """Base of every error apmip raises on purpose."""


class WireError(ApmipError):
    """A Mobility Header message could not be encoded or decoded."""


class DecodeError(WireError):
    """Bytes from the network are not a valid message.

    ``what`` names the message or option, ``field`` the field, ``offset`` the byte offset in
    the buffer where the fault was found.
    """

    def __init__(self, what: str, field: str, offset: int, detail: str) -> None:
        self.what = what
        self.field = field
        self.offset = offset
        self.detail = detail
        super().__init__(f"{what}: {field} at offset {offset}: {detail}")


class EncodeError(WireError):
    """A message or option cannot be encoded (a value out of range, a size limit passed)."""


class PeerError(ApmipError):
    """The peer did something wrong; ``status`` is the Binding Acknowledgement status to send."""

    def __init__(self, message: str, status: int) -> None:
        self.status = status
        super().__init__(message)


class AttestationError(ApmipError):
    """Evidence could not be produced or appraised."""


class EvidenceError(AttestationError):
    """Evidence is malformed: a TPM 2.0 structure could not be parsed."""


class VerificationError(AttestationError):
    """Evidence was appraised and refused.

    ``reason`` is a short stable code (``signature``, ``nonce``, ``pcr-digest`` ...), ``aspect``
    the trust aspect it touches (``hardware``, ``executables`` ...); the message says what was
    expected and what was found. Callers that face the peer report only the reason code.
    """

    def __init__(self, reason: str, message: str, aspect: str = "instance-identity") -> None:
        self.reason = reason
        self.aspect = aspect
        super().__init__(message)


class TpmError(AttestationError):
    """The local TPM (or the software attester) failed to produce evidence."""


class ConfigError(ApmipError):
    """Configuration is invalid: names the file, the key and how to fix it."""

    def __init__(self, path: str, key: str, problem: str, fix: str) -> None:
        self.path = path
        self.key = key
        self.problem = problem
        self.fix = fix
        super().__init__(f"{path}: {key}: {problem} (fix: {fix})")


class TpmCommandError(TpmError):
    """A TPM command failed: ``command`` names it, ``rc`` is the TSS2/TPM response code and
    ``meaning`` its decoded text (TPM 2.0 Part 2, section 6.6)."""

    def __init__(self, command: str, rc: int, meaning: str, hint: str = "") -> None:
        self.command = command
        self.rc = rc
        self.meaning = meaning
        text = f"{command} failed: TPM_RC 0x{rc:03x}: {meaning}"
        super().__init__(f"{text} ({hint})" if hint else text)
