"""Accounts: users, sign-in sessions and throttling, API tokens, departments."""
