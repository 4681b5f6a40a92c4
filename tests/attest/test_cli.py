"""`apmip pki`, `apmip refvals` and `apmip attest` end to end, and the tpm2-tools formats."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from apmip.attest import tpm2, tpm2tools
from apmip.attest.attester import PcrBank
from apmip.attest.refvals import ReferenceValues
from apmip.cli import main
from apmip.errors import EvidenceError

SEL = (tpm2.PcrSelection.of("sha256", [0, 4]), tpm2.PcrSelection.of("sha1", [4]))


def test_pcr_list_syntax() -> None:
    assert tpm2tools.parse_pcr_list("sha256:0,4,13+sha1:4") == (
        PcrBank("sha256", (0, 4, 13)),
        PcrBank("sha1", (4,)),
    )
    assert tpm2tools.parse_pcr_list("sha1:all") == (PcrBank("sha1", tuple(range(24))),)
    with pytest.raises(EvidenceError, match="'md5:1' is not BANK:PCR"):
        tpm2tools.parse_pcr_list("md5:1")


def test_values_format_is_split_by_the_quote_selection() -> None:
    data = b"\x01" * 32 + b"\x02" * 32 + b"\x03" * 20
    values = tpm2tools.read_pcrs(data, SEL)
    assert [(v.bank, v.index, v.value[:1]) for v in values] == [
        ("sha256", 0, b"\x01"),
        ("sha256", 4, b"\x02"),
        ("sha1", 4, b"\x03"),
    ]
    with pytest.raises(EvidenceError, match="83 bytes, the quote's selection needs 84"):
        tpm2tools.read_pcrs(data[:-1], SEL, "values")


def _serialized(selection: list[tuple[int, int, bytes]], digests: list[bytes]) -> bytes:
    """tpm2-tools 5.x `-F serialized`, little-endian, laid out by hand."""
    out = struct.pack("<I", len(selection))
    for alg, size, bitmap in selection + [(0, 0, b"")] * (16 - len(selection)):
        out += struct.pack("<HB", alg, size) + bitmap.ljust(4, b"\x00") + b"\x00"
    lists = [digests[i : i + 8] for i in range(0, len(digests), 8)]
    out += struct.pack("<I", len(lists))
    for chunk in lists:
        out += struct.pack("<I", len(chunk))
        for d in chunk + [b""] * (8 - len(chunk)):
            out += struct.pack("<H", len(d)) + d.ljust(64, b"\x00")
    return out


def test_serialized_format_by_hand() -> None:
    digests = [b"\x01" * 32, b"\x02" * 32, b"\x03" * 20]
    data = _serialized([(0x000B, 3, b"\x11\x00\x00"), (0x0004, 3, b"\x10\x00\x00")], digests)
    assert len(data) == 132 + 4 + 532
    values = tpm2tools.read_pcrs(data, SEL)
    assert [v.value for v in values] == digests
    nine = tpm2.PcrSelection.of("sha256", range(9))
    data = _serialized([(0x000B, 3, b"\xff\x01\x00")], [bytes([i]) * 32 for i in range(9)])
    assert len(data) == 1200  # what tpm2_quote 5.4 wrote for 9+ PCRs on swtpm
    assert tpm2tools.read_pcrs(data, (nine,))[8].value == b"\x08" * 32
    with pytest.raises(EvidenceError, match="serialized PCR file selects"):
        tpm2tools.read_pcrs(data, SEL, "serialized")


@pytest.fixture
def lab(tmp_path: Path) -> Path:
    assert main(["pki", "init", str(tmp_path / "pki")]) == 0
    assert main(["pki", "device", str(tmp_path / "pki"), "r1", "--serial", "R-1"]) == 0
    config = tmp_path / "lma.toml"
    config.write_text("[lma]\n")
    quote = [
        "attest", "quote", "--key", str(tmp_path / "pki/devices/r1/ak.key.pem"),
        "--state", str(tmp_path / "state.json"), "--boot", "--measure", str(config),
        "-l", "sha256:0,4,9,13", "-q", "c0ffee00c0ffee00", "--clock", "4242",
        "-m", str(tmp_path / "msg"), "-s", str(tmp_path / "sig"), "-o", str(tmp_path / "pcrs"),
        "--eventlog", str(tmp_path / "log"), "--refvals", str(tmp_path / "refs.json"),
    ]  # fmt: skip
    assert main(quote) == 0
    return tmp_path


def _verify(lab: Path, *extra: str) -> list[str]:
    return [
        "attest", "verify", "-m", str(lab / "msg"), "-s", str(lab / "sig"),
        "-o", str(lab / "pcrs"), "--refvals", str(lab / "refs.json"),
        "--ak-cert", str(lab / "pki/devices/r1/ak.cert.pem"),
        "--ca", str(lab / "pki/ca/ca.cert.pem"), "--json", *extra,
    ]  # fmt: skip


def test_software_quote_verifies_through_the_cli(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(_verify(lab, "--nonce", "c0ffee00c0ffee00", "--eventlog", str(lab / "log"))) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["verdict"], result["reason"], result["serial"]) == ("accept", "ok", "R-1")
    assert result["clock"] == {"clock": 4242, "reset_count": 0, "restart_count": 0, "safe": True}
    assert main(_verify(lab, "--nonce", "c0ffee00c0ffee01")) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "nonce"


def test_plain_signature_and_revocation(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sig = tpm2.parse_signature((lab / "sig").read_bytes())
    der = encode_dss_signature(int.from_bytes(sig.r, "big"), int.from_bytes(sig.s, "big"))
    (lab / "sig").write_bytes(der)
    (lab / "revoked.txt").write_text("# lost in transit\nR-1\n")
    capsys.readouterr()
    assert main(_verify(lab, "--nonce", "c0ffee00c0ffee00", "--sig-format", "plain")) == 0
    revoked = str(lab / "revoked.txt")
    assert main(_verify(lab, "--nonce", "c0ffee00c0ffee00", "--revoked", revoked)) == 1
    out = capsys.readouterr().out.split("\n}\n")
    assert json.loads(out[0] + "}")["verdict"] == "accept"
    assert json.loads(out[1] + "}")["reason"] == "revoked"


def test_changed_config_is_named_by_the_cli(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (lab / "lma.toml").write_text("[lma]\nevil = true\n")
    quote = [
        "attest", "quote", "--key", str(lab / "pki/devices/r1/ak.key.pem"),
        "--state", str(lab / "state.json"), "--boot", "--measure", str(lab / "lma.toml"),
        "-l", "sha256:0,4,9,13", "-q", "c0ffee00c0ffee00",
        "-m", str(lab / "msg"), "-s", str(lab / "sig"), "-o", str(lab / "pcrs"),
        "--eventlog", str(lab / "log"),
    ]  # fmt: skip
    assert main(quote) == 0
    capsys.readouterr()
    assert main(_verify(lab, "--nonce", "c0ffee00c0ffee00", "--eventlog", str(lab / "log"))) == 1
    result = json.loads(capsys.readouterr().out)
    assert (result["reason"], result["aspect"]) == ("reference", "configuration")
    assert f"config '{lab / 'lma.toml'}' differs" in result["message"]


def test_refvals_show_and_pki_show(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["refvals", "show", str(lab / "refs.json")]) == 0
    out = capsys.readouterr().out
    assert "set 'recorded'" in out and "sha256  PCR 13" in out
    assert main(["pki", "show", str(lab / "pki"), "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert (row["serial"], row["trusted"], row["revoked"]) == ("R-1", True, False)


def test_unusable_inputs_exit_2(lab: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = _verify(lab, "--nonce", "zz")
    assert main(args) == 2
    assert "--nonce 'zz' is not hex" in capsys.readouterr().err


@pytest.mark.swtpm
@pytest.mark.parametrize(
    ("key", "scheme", "sig_format", "pcr_format"),
    [
        ("ecc", "ecdsa", "plain", "values"),
        ("rsa", "rsassa", "plain", "serialized"),
        ("rsa", "rsapss", "tss", "serialized"),
    ],
)
def test_tpm2_quote_from_swtpm_verifies(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    key: str,
    scheme: str,
    sig_format: str,
    pcr_format: str,
) -> None:
    """A quote taken by tpm2-tools from swtpm, in each signature and PCR file format."""
    if not shutil.which("tpm2_quote"):
        pytest.skip("tpm2-tools not installed")
    from apmip.attest.swtpm import SwtpmProcess

    with SwtpmProcess(tmp_path / "tpm") as tpm:
        env = {"TPM2TOOLS_TCTI": tpm.tcti, "PATH": "/usr/bin:/bin"}

        def run(*argv: str) -> None:
            subprocess.run(argv, check=True, env=env, cwd=tmp_path, capture_output=True)

        run("tpm2_createek", "-c", "ek.ctx", "-G", key, "-u", "ek.pub")
        run("tpm2_createak", "-C", "ek.ctx", "-c", "ak.ctx", "-G", key, "-g", "sha256",
            "-s", scheme, "-u", "ak.pem", "-f", "pem")  # fmt: skip
        run("tpm2_flushcontext", "-t")
        run("tpm2_pcrextend", "9:sha256=" + "ab" * 32)
        run("tpm2_quote", "-c", "ak.ctx", "-l", "sha256:0,7,9", "-q", "00112233445566778899",
            "-m", "msg", "-s", "sig", "-f", sig_format, "-o", "pcrs", "-F", pcr_format,
            "-g", "sha256", "--scheme", scheme)  # fmt: skip
    assert main(["refvals", "import", "-m", str(tmp_path / "msg"), "-o", str(tmp_path / "pcrs"),
                 "--name", "swtpm", "--out", str(tmp_path / "refs.json")]) == 0  # fmt: skip
    refs = ReferenceValues.load(tmp_path / "refs.json")
    assert [(b, i) for b, i, _ in refs.sets[0].pcrs] == [
        ("sha256", 0),
        ("sha256", 7),
        ("sha256", 9),
    ]
    args = [
        "attest", "verify", "-m", str(tmp_path / "msg"), "-s", str(tmp_path / "sig"),
        "-o", str(tmp_path / "pcrs"), "--ak-pem", str(tmp_path / "ak.pem"),
        "--refvals", str(tmp_path / "refs.json"), "--pcr-list", "sha256:0,7,9", "--json",
        "--scheme", scheme if scheme != "ecdsa" else "rsassa",
    ]  # fmt: skip
    capsys.readouterr()
    assert main([*args, "--nonce", "00112233445566778899"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["verdict"], result["reason"]) == ("accept", "ok")
    assert result["clock"]["safe"] is True
    assert main([*args, "--nonce", "00112233445566778898"]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "nonce"
    data = bytearray((tmp_path / "msg").read_bytes())
    data[-1] ^= 1
    (tmp_path / "msg").write_bytes(bytes(data))
    assert main([*args, "--nonce", "00112233445566778899"]) == 1
    assert json.loads(capsys.readouterr().out)["reason"] == "signature"


def _pki_device(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["pki", "device", *args])
    return code, capsys.readouterr().out


def test_pki_device_never_replaces_a_device_silently(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki_dir, folder = tmp_path / "pki", tmp_path / "pki/devices/mag1"
    assert main(["pki", "init", str(pki_dir)]) == 0
    assert _pki_device(capsys, str(pki_dir), "mag1", "--serial", "M-1")[0] == 0
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    code, out = _pki_device(capsys, str(pki_dir), "mag1", "--serial", "M-1")
    assert code == 1
    assert out == (
        f"apmip pki device: {folder} already holds device 'mag1' (idevid.cert.pem, "
        "idevid.key.pem, ak.cert.pem, ak.key.pem); pass --force to replace its keys and "
        "certificates (the old ones stop being trusted), or choose another name\n"
    )
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert _pki_device(capsys, str(pki_dir), "mag1", "--serial", "M-1", "--force")[0] == 0
    after = {p.name: p.read_bytes() for p in folder.iterdir()}
    assert sorted(after) == sorted(before)
    assert all(after[name] != before[name] for name in before)


def test_pki_device_refuses_a_serial_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pki_dir = tmp_path / "pki"
    assert main(["pki", "init", str(pki_dir)]) == 0
    assert _pki_device(capsys, str(pki_dir), "mag1", "--serial", "M-1")[0] == 0
    for extra in ((), ("--force",)):
        code, out = _pki_device(capsys, str(pki_dir), "mag2", "--serial", "M-1", *extra)
        assert code == 1
        assert out == (
            "apmip pki device: serial 'M-1' is already used by device 'mag1' "
            f"({pki_dir / 'devices/mag1/idevid.cert.pem'}); give each device its own serial\n"
        )
    assert not (pki_dir / "devices/mag2").exists()


def test_pki_device_refuses_an_ak_pem_that_is_no_attestation_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization

    from apmip.attest import pki

    pki_dir = tmp_path / "pki"
    assert main(["pki", "init", str(pki_dir)]) == 0
    ca_cert = pki_dir / "ca/ca.cert.pem"
    ca_public = tmp_path / "ca.pub.pem"
    ca_public.write_bytes(
        pki.load_cert(ca_cert)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    garbage = tmp_path / "notes.txt"
    garbage.write_text("not a key\n")
    capsys.readouterr()
    fix = "give the TPM attestation key's public PEM (tpm2_createak ... -u ak.pem -f pem)"
    cases = [
        (ca_cert, "is a certificate, not a public key"),
        (ca_public, "is the CA's own public key, not an attestation key"),
        (pki_dir / "ca/ca.key.pem", "holds a private key, not a public key"),
        (garbage, "is not a PEM public key"),
    ]
    for path, problem in cases:
        code, out = _pki_device(
            capsys, str(pki_dir), "mag2", "--serial", "M-2", "--ak-pem", str(path)
        )
        assert code == 1
        assert out == f"apmip pki device: --ak-pem {path} {problem}; {fix}\n"
    assert not (pki_dir / "devices/mag2").exists()


def test_pki_device_force_with_a_tpm_ak_drops_the_software_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    pki_dir, folder = tmp_path / "pki", tmp_path / "pki/devices/mag1"
    assert main(["pki", "init", str(pki_dir)]) == 0
    assert _pki_device(capsys, str(pki_dir), "mag1", "--serial", "M-1")[0] == 0
    ak_pem = tmp_path / "ak.pem"
    ak_pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    args = (str(pki_dir), "mag1", "--serial", "M-1", "--ak-pem", str(ak_pem), "--force")
    assert _pki_device(capsys, *args)[0] == 0
    assert sorted(p.name for p in folder.iterdir()) == [
        "ak.cert.pem",
        "idevid.cert.pem",
        "idevid.key.pem",
    ]


REVOKED_FIX = "write it as UTF-8 text: one device serial per line, # starts a comment"


def test_a_revocation_list_that_is_not_utf8_is_a_config_error(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from apmip.attest import pki
    from apmip.errors import ConfigError

    revoked = lab / "pki/revoked.txt"
    revoked.write_bytes(b"# lost\nR-1\n\xff\n")
    expected = f"{revoked}: line 3: byte 0xff at offset 11 is not UTF-8 (fix: {REVOKED_FIX})"
    with pytest.raises(ConfigError) as caught:
        pki.read_revoked(revoked)
    assert (caught.value.path, caught.value.key) == (str(revoked), "line 3")
    assert str(caught.value) == expected
    capsys.readouterr()
    assert main(_verify(lab, "--nonce", "c0ffee00c0ffee00", "--revoked", str(revoked))) == 2
    assert capsys.readouterr().err == f"apmip attest verify: {expected}\n"
    assert main(["pki", "show", str(lab / "pki")]) == 1
    assert capsys.readouterr().out == f"apmip pki show: {expected}\n"
    with pytest.raises(ConfigError, match="revocation list: cannot be read: No such file"):
        pki.read_revoked(lab / "absent.txt")


def test_revoking_after_a_last_line_without_newline(lab: Path) -> None:
    from apmip.attest import pki

    revoked = lab / "pki/revoked.txt"
    revoked.write_text("R-1")
    assert main(["pki", "revoke", str(lab / "pki"), "R-2"]) == 0
    assert revoked.read_text() == "R-1\nR-2\n"
    assert pki.read_revoked(revoked) == {"R-1", "R-2"}


def test_reference_values_that_are_not_utf8_are_a_config_error(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    refs = lab / "refs.json"
    refs.write_bytes(b'{"format":\n"\xff"}')
    capsys.readouterr()
    assert main(["refvals", "show", str(refs)]) == 1
    assert capsys.readouterr().err == (
        f"apmip refvals show: {refs}: line 2: byte 0xff at offset 12 is not UTF-8 (fix: record "
        "it again with `apmip refvals record` (the file is UTF-8 JSON))\n"
    )
