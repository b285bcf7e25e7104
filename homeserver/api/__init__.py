"""The HTTP edge: parse, authorise, call one service, serialise.

``routing.py`` holds the route table (each API module contributes its rows),
``middleware.py`` turns exceptions into Matrix errors and authenticates,
``http.py`` has the request/response helpers every handler uses.
"""
