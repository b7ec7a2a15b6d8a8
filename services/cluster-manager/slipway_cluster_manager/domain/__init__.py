"""Pure cluster-manager domain: driver port, value types and validation rules (no I/O)."""
