"""Seed data: requirement catalogues (frameworks/*.yaml) and the demo enterprise."""
