"""A multi-organization CRM built as a low-code platform.

The core packages are `metadata` (what configuration means), `runtime` (records,
security, jobs) and `designer` (drafting and publishing configuration). None of
them imports the web layer; `blueprints` does the HTTP work on top of them.
"""
