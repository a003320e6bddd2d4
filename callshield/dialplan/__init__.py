"""Route it: where a screened call goes (normal routes, risk policies, dial plans and
overrides, destination health) and the channel-variable names the dialplan reads."""
