"""What configuration means: JSON Schemas, typed metadata, validation, layers and the versioned store."""
