"""Scheduled jobs: plain functions of (session factory, now), run by APScheduler."""
