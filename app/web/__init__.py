"""Everything that knows Request, Response or Jinja.

Middleware, CSRF, rendering, forms, charts and document writers; nothing below imports it.
"""
