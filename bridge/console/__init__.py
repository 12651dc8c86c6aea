"""``braze-bridge console``: a local web page for rules, trial events and the sandbox's inbox.

Static HTML, vanilla JS and CSS (``static/``) served by a stdlib HTTP server on loopback.
The page talks only to this server; the server evaluates events with `bridge.preview`
(through `adapter.py`, the one place that knows its shape), asks an in-process sandbox for a
verdict on each request, and proxies the sandbox's inspection and fault API.
"""
