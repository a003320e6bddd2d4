"""Routing: where a screened call goes (normal routes, risk policies; DR plans later)."""
