"""Run the simulator on loopback in a background thread (for tests, benchmarks and the demo)."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType

import uvicorn

from linkedin_assets.simulator.app import create_app
from linkedin_assets.simulator.config import SimulatorConfig
from linkedin_assets.simulator.state import SimulatorState

__all__ = ["SimulatorServer"]


class SimulatorServer:
    """The simulator behind uvicorn on ``127.0.0.1``; use as a context manager.

    ``port=0`` (the default) picks a free port. Credentials are fake and minted per server.
    ``state`` holds the data set, the knobs and the request log (``state.requests()``,
    ``state.max_in_flight()``); processes other than this one read the log at ``admin_url + "/requests"``.
    """

    def __init__(self, config: SimulatorConfig | None = None, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self.state = SimulatorState(config or SimulatorConfig())
        self.host = host
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self.port: int = self._sock.getsockname()[1]
        self._server = uvicorn.Server(
            uvicorn.Config(
                create_app(self.state), log_level="critical", access_log=False, lifespan="off", timeout_keep_alive=30
            )
        )
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        return (
            f"SimulatorServer(url={self.url!r}, profile={self.state.config.profile!r}, seed={self.state.config.seed})"
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_base_url(self) -> str:
        return self.url + "/rest"

    @property
    def oauth_base_url(self) -> str:
        return self.url + "/oauth/v2"

    @property
    def admin_url(self) -> str:
        """Simulator-only administration (not LinkedIn's API): ``/requests``, ``/knobs``, ``/new-generation``."""
        return self.url + "/_sim"

    @property
    def client_id(self) -> str:
        return self.state.client_id

    @property
    def client_secret(self) -> str:
        return self.state.client_secret

    @property
    def access_token(self) -> str:
        return self.state.access_token

    @property
    def refresh_token(self) -> str:
        return self.state.refresh_token

    def client_env(self) -> dict[str, str]:
        """The ``LINKEDIN_*`` environment that points the project's client at this simulator."""
        return {
            "LINKEDIN_API_BASE_URL": self.api_base_url,
            "LINKEDIN_OAUTH_BASE_URL": self.oauth_base_url,
            "LINKEDIN_CLIENT_ID": self.client_id,
            "LINKEDIN_CLIENT_SECRET": self.client_secret,
            "LINKEDIN_ACCESS_TOKEN": self.access_token,
            "LINKEDIN_REFRESH_TOKEN": self.refresh_token,
        }

    def configure(self, **knobs: object) -> None:
        """Change run-time knobs (latency, fault rates, quotas, ...); thread-safe."""
        self.state.configure(**knobs)

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the simulator did not start")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._sock.close()

    def serve_forever(self) -> None:
        """Serve in the calling thread until interrupted."""
        self._server.run(sockets=[self._sock])

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
