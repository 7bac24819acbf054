"""What gets signed: simple-signing payloads, in-toto statements, DSSE envelopes."""
