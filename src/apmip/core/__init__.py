"""Protocol engines: the LMA (binding cache) and the MAG (binding update list).

Nothing here performs I/O. An engine takes ``(bytes, source, now)`` and returns the datagrams
to send, the events that happened and the time it next wants to be woken; nonces come from an
injected source and evidence from injected attestation objects.
"""
