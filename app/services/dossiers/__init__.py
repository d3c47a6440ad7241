"""Dossiers: what goes into the package an assessor receives."""
