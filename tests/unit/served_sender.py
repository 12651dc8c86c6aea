"""The production sender (lean transport) against a local HTTP server running a handler.

``handler(request: httpx.Request) -> httpx.Response`` as in :mod:`tests.support.http`; the
sender talks to it over a real loopback socket, as it talks to Braze.
"""

from __future__ import annotations

from typing import Any

from bridge.deliver.sender import Sender
from bridge.settings import BrazeSettings
from tests.support.http import Handler, serve


class ServedSender(Sender):
    """A :class:`Sender` whose ``rest_endpoint`` is a local server answering with
    ``handler``; :meth:`close` stops the server too."""

    def __init__(self, handler: Handler, braze: BrazeSettings, *args: Any, **kwargs: Any) -> None:
        assert braze.http_transport == "lean", "production's transport"
        self._served = serve(handler)
        url = self._served.__enter__()
        super().__init__(braze.model_copy(update={"rest_endpoint": url}), *args, **kwargs)

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._served.__exit__(None, None, None)
