"""Drafting and publishing configuration: drafts, diffs, migration and impact previews.

The names below are the package's public surface; the modules hold the rest.
"""

from crm_platform.designer.previews import migration_preview as migration_preview
