"""crm_webhook: a CRM's signed webhooks become messages in mapped Matrix rooms.

- ``POST {webhook_path}`` (default ``/crm/webhook``) on the bridge's own port
  receives the CRM's events. The body is HMAC-SHA256 signed with the shared
  ``webhook_secret`` over ``"{X-CRM-Timestamp}." + body``; the signature comes
  as ``X-CRM-Signature: sha256=<hex>``. Bad or stale signatures get 401 and
  nothing is sent. Each delivery ``id`` is handled once, across restarts.
- An event is posted in every room whose mapping matches its ``account`` and
  ``type``, by a ghost user standing for the CRM user who did it
  (``actor``), or by the bot when there is none.
- In a mapped room, ``!crm note <record> <text>`` adds a note through the
  CRM's REST API and ``!crm show <record>`` prints a record.

Modules: ``config.py`` (the ``crm`` section), ``signature.py`` (HMAC),
``crm_api.py`` (the REST client), ``messages.py`` (event → text),
``bridge.py`` (the bridge).
"""

from __future__ import annotations

from appservices.crm_webhook.bridge import CrmBridge
from appservices.crm_webhook.config import CrmBridgeConfig


def create_bridge(config: CrmBridgeConfig) -> CrmBridge:
    """The entry point (group ``homeserver.appservices``)."""
    return CrmBridge(config)


__all__ = ["CrmBridge", "CrmBridgeConfig", "create_bridge"]
