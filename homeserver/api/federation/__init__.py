"""Server-server API handlers, one module per spec section.

Served on listeners with the ``keys`` or ``federation`` resource (in the
default deployment, the TLS listener on 8448). Today this holds the server's
key publication and version; event exchange is not built yet.
"""
