"""Stored files: content checks, the hash-addressed store, and verifying what is kept."""
