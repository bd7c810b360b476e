"""Small helpers shared across atu that belong to no one role."""
