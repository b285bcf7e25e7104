"""``python3 -m appservices.crm_webhook --config crm.yaml [generate-registration]``."""

from __future__ import annotations

import sys

from appservices.crm_webhook import CrmBridgeConfig, create_bridge
from appservices.framework.cli import main

if __name__ == "__main__":
    sys.exit(main("crm_webhook", CrmBridgeConfig, create_bridge))
