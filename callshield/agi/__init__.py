"""FastAGI: the server, its protocol, and one module per AGI script it serves."""
