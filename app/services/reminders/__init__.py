"""Reminders: what falls due, the plan and ledger, channels, in-app notifications."""
