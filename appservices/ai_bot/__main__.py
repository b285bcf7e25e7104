"""``python3 -m appservices.ai_bot --config ai.yaml [generate-registration]``."""

from __future__ import annotations

import sys

from appservices.ai_bot import AiBotConfig, create_bridge
from appservices.framework.cli import main

if __name__ == "__main__":
    sys.exit(main("ai_bot", AiBotConfig, create_bridge))
