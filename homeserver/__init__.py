"""A Matrix homeserver."""
