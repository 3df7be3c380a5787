"""What configuration means: schemas, typed metadata, validation, layers, the versioned store."""
