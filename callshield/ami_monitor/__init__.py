"""The AMI monitor: watches call delivery (DialEnd, Hangup) and destination reachability
(PJSIP ContactStatus) over the Asterisk Manager Interface and diverts calls when a
destination fails.

``client`` is the AMI connection (login, keepalive, reconnect with backoff and jitter,
actions and event lists); ``detector`` the pure failure detector; ``monitor`` the glue.
"""
