"""`apmip demo`: the whole system on loopback, without root and without a TPM."""
