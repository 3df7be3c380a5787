"""The data plane: tenants, the org tree, entity tables, the record service, security and jobs."""
