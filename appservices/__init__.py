"""Application services: the plugin system and bundled bridges and bots."""
