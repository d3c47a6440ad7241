"""Business rules and state changes. Services never commit: the request or job boundary does."""
