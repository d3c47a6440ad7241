"""The activity log: who changed what, chained and keyed so tampering shows."""
