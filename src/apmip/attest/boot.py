"""A simulated measured boot for the software attester (and for swtpm, which has no firmware).

A real platform's firmware measures each boot stage before running it; here a fixed chain of
stand-in components is extended in the same PCRs the TCG PC Client profile assigns them
(TCG PC Client Platform Firmware Profile, section 3.3.4 "PCR usage"):

====  ===============  =============================================================
PCR   kind             component (content is the fixed text in :data:`BOOT_CHAIN`)
====  ===============  =============================================================
0     firmware         platform firmware (the CRTM and UEFI code)
1     platform-config  firmware settings
2     option-rom       option ROM code
4     bootloader       boot manager, then the boot loader image
5     boot-config      partition table
7     secure-boot      Secure Boot policy (the db/dbx state)
8     kernel-cmdline   kernel command line, as a boot loader measures it
9     kernel           kernel image; then the initrd (kind ``initrd``)
9     os               the operating system's own start-up marker
====  ===============  =============================================================

Each component's content digest is SHA-256 over its text; what is extended is the event
digest of :mod:`apmip.attest.events`. Changing one component (tests replace an entry) changes
its PCR and the verifier names it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from apmip.attest.attester import Attester
from apmip.attest.events import Event

DEFAULT_BANKS = ("sha256", "sha1")


@dataclass(frozen=True)
class BootComponent:
    pcr: int
    kind: str
    name: str
    content: bytes

    def event(self) -> Event:
        return Event(self.pcr, self.kind, self.name, hashlib.sha256(self.content).digest())


BOOT_CHAIN: tuple[BootComponent, ...] = (
    BootComponent(0, "firmware", "apmip-sim-firmware 1.0", b"simulated UEFI firmware 1.0"),
    BootComponent(1, "platform-config", "firmware-settings", b"boot order: disk0; tpm: on"),
    BootComponent(2, "option-rom", "nic-option-rom 2.3", b"simulated NIC option ROM 2.3"),
    BootComponent(4, "bootloader", "boot-manager", b"simulated boot manager 1.0"),
    BootComponent(4, "bootloader", "grubx64.efi 2.06", b"simulated GRUB 2.06"),
    BootComponent(5, "boot-config", "gpt", b"simulated GPT: esp, root"),
    BootComponent(7, "secure-boot", "secure-boot-policy", b"SecureBoot=1 PK KEK db dbx v1"),
    BootComponent(8, "kernel-cmdline", "cmdline", b"root=/dev/sda2 ro quiet ima=on"),
    BootComponent(9, "kernel", "vmlinuz-6.1.0", b"simulated Linux kernel 6.1.0"),
    BootComponent(9, "initrd", "initrd.img-6.1.0", b"simulated initramfs 6.1.0"),
    BootComponent(9, "os", "os-release debian-12", b"simulated Debian 12 userland start"),
)


def simulate_boot(
    attester: Attester,
    chain: Iterable[BootComponent] = BOOT_CHAIN,
    banks: tuple[str, ...] = DEFAULT_BANKS,
) -> tuple[Event, ...]:
    """Extend each component of ``chain`` into its PCR in ``banks``; return the event list."""
    events = []
    for component in chain:
        event = component.event()
        attester.extend(event.pcr, {bank: event.digest(bank) for bank in banks})
        events.append(event)
    return tuple(events)
