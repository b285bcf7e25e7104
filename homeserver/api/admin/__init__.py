"""The server admin API (``/_synapse/admin/...``), served on the ``admin``
listener resource. Paths follow Synapse's admin API so existing admin tools
and Complement can drive this server.
"""
