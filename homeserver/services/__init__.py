"""Use cases: async, HTTP-free. Each service lists the stores and peers it uses
in its constructor; ``container.py`` builds the graph."""
