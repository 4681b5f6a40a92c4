"""Coverage-guided fuzzing of the Mobility Header decoder (atheris).

Run (atheris is not a test dependency; install it into the venv first):

    .venv/bin/pip install atheris
    .venv/bin/python fuzz/fuzz_mh.py -atheris_runs=300000 fuzz/corpus

Each input is decoded with and without a checksum; anything that decodes must re-encode to
the same bytes and survive the attestation reader and the describer. Any exception other
than DecodeError is a finding. The seed corpus is written from the hand vectors and the
shared captures when the corpus folder is empty.
"""

from __future__ import annotations

import contextlib
import ipaddress
import sys
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from apmip.errors import DecodeError
    from apmip.wire import decode, encode, read_attestation
    from apmip.wire.describe import describe_message
    from apmip.wire.pcap import LINKTYPE_RAW, find_mobility

SRC = ipaddress.IPv6Address("2001:db8::1")
DST = ipaddress.IPv6Address("2001:db8::2")


def check(data: bytes) -> None:
    # the first octet picks what to fuzz: a bare Mobility Header, or a raw IP frame
    if not data:
        return
    selector, body = data[0], data[1:]
    if selector & 1:
        with contextlib.suppress(DecodeError):
            find_mobility(body, LINKTYPE_RAW, None).decode(verify_checksum=bool(selector & 2))
        return
    for kw in ({}, {"src": SRC, "dst": DST}):
        try:
            message = decode(body, **kw)  # type: ignore[arg-type]
        except DecodeError:
            continue
        again = encode(message, **kw)  # type: ignore[arg-type]
        if again[6:] != body[6:]:
            raise AssertionError(f"re-encoding changed the bytes: {body.hex()} -> {again.hex()}")
        with contextlib.suppress(DecodeError):
            read_attestation(message)
        describe_message(message)


def seed(corpus: Path) -> None:
    """Write seed inputs (prefix 0x00: bare Mobility Header) when the corpus is empty."""
    corpus.mkdir(parents=True, exist_ok=True)
    if any(corpus.iterdir()):
        return
    here = Path(__file__).resolve().parent.parent
    sys.path.insert(0, str(here))
    from tests.wire.test_independent_decoders import PBA as FULL_PBA
    from tests.wire.test_independent_decoders import PBU as FULL_PBU
    from tests.wire.test_message_vectors import VECTORS as MESSAGES
    from tests.wire.test_option_vectors import VECTORS as OPTIONS
    from tests.wire.test_pbu_pba_vectors import PBA, PBU

    seeds = [PBU, PBA, encode(FULL_PBU), encode(FULL_PBA)]
    seeds += [bytes.fromhex(v) for _, v in MESSAGES]
    from apmip.wire import BindingUpdate
    from apmip.wire.pcap import mh_packet, udp_datagram

    for option, _, _ in OPTIONS:
        seeds.append(encode(BindingUpdate(1, 1, options=(option,))))
    frames = [mh_packet(SRC, DST, PBU), udp_datagram(SRC, DST, 5436, 5436, PBA)]
    captures = here.parent / "shared" / "captures" / "ipv6_mobility_1.pcap"
    if captures.exists():
        from apmip.wire.pcap import read

        for _, found in read(captures):
            if not isinstance(found, DecodeError):
                seeds.append(found.mh)
    for index, item in enumerate(seeds):
        (corpus / f"seed-{index:03d}").write_bytes(b"\x00" + item)
    for index, item in enumerate(frames):
        (corpus / f"frame-{index:03d}").write_bytes(b"\x03" + item)


def main() -> None:
    corpus = [a for a in sys.argv[1:] if not a.startswith("-")]
    if corpus:
        seed(Path(corpus[0]))
    argv = list(sys.argv)
    if not any(a.startswith("-max_len=") for a in argv):
        argv.append("-max_len=2100")  # room for the largest message, 2048 octets
    atheris.Setup(argv, check)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
