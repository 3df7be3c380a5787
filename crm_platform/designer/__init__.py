"""Drafting and publishing configuration: drafts, diffs, migration and impact previews."""
