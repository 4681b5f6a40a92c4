"""Attestation: TPM 2.0 structures, attesters, device PKI, reference values and the verifier."""
