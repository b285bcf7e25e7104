"""Client-server API handlers, one module per spec section."""
