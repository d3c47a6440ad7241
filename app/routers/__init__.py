"""HTTP routes: one module per concept, each with its HTML pages and its /api/v1 endpoints."""
