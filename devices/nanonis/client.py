"""A socket client of the Nanonis TCP interface: one command, one answer, in order.

>>> client = NanonisClient("192.168.1.10", 6501)      # doctest: +SKIP
>>> client.call("Bias.Get")                           # doctest: +SKIP
[-1.5]

Errors (all :class:`~autoscope.errors.InstrumentFault`):

- the controller answers with a non-zero error status: :class:`NanonisError`
  carrying the command, the status and the trailer's message;
- no answer within ``timeout``: :class:`InstrumentTimeout`;
- the connection cannot be made, drops, or an answer breaks off or is out of
  step: :class:`InstrumentConnectionError`.

Reconnect policy: the client connects on the first call and, after any
connection error or timeout, closes the socket (its stream may be out of
step). The next call connects again, trying ``connect_attempts`` times
``connect_delay`` seconds apart. A call that broke off is retried once on a
fresh connection only when it is a read (its name ends in ``Get``): a
repeated set, start or pulse might act twice, so that error goes to the
caller, who decides.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

from autoscope.devices.nanonis import protocol
from autoscope.errors import (
    ConfigurationError,
    DataFormatError,
    InstrumentConnectionError,
    InstrumentTimeout,
    NanonisError,
)

__all__ = ["NanonisClient", "DEFAULT_PORT"]

log = logging.getLogger(__name__)

DEFAULT_PORT = 6501
"""The first of the ports a Nanonis controller listens on (6501-6504 by default)."""


class NanonisClient:
    """Blocking client of one Nanonis TCP port.

    Parameters
    ----------
    host : str
        Controller host name or address.
    port : int
        TCP port (1..65535).
    timeout : float
        Seconds to wait for an answer (commands that wait on the instrument
        may pass their own).
    connect_attempts : int
        Tries of a (re)connection before InstrumentConnectionError.
    connect_delay : float
        Seconds between those tries.
    """

    def __init__(
        self,
        host: str,
        port: int = DEFAULT_PORT,
        *,
        timeout: float = 10.0,
        connect_attempts: int = 3,
        connect_delay: float = 0.5,
    ) -> None:
        if not isinstance(host, str) or not host:
            raise ConfigurationError(f"Nanonis host must be a non-empty string, got {host!r}")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigurationError(f"Nanonis port {port!r} must be an integer in 1..65535")
        if not timeout > 0:
            raise ConfigurationError(f"Nanonis timeout {timeout!r} s must be > 0")
        if not (isinstance(connect_attempts, int) and connect_attempts >= 1):
            raise ConfigurationError(f"connect_attempts {connect_attempts!r} must be an int >= 1")
        if not connect_delay >= 0:
            raise ConfigurationError(f"connect_delay {connect_delay!r} s must be >= 0")
        self.host, self.port = host, port
        self.timeout = float(timeout)
        self.connect_attempts = connect_attempts
        self.connect_delay = float(connect_delay)
        self._sock: socket.socket | None = None
        self._lock = threading.RLock()
        self.reconnects = 0  # connections made after the first one
        self._ever_connected = False

    # ------------------------------------------------------------------ connection
    @property
    def connected(self) -> bool:
        """Whether a socket is open (it may still turn out to be dead on the next call)."""
        return self._sock is not None

    def connect(self) -> None:
        """Open the connection (no-op when open); InstrumentConnectionError when it fails."""
        with self._lock:
            if self._sock is not None:
                return
            last: OSError | None = None
            for attempt in range(self.connect_attempts):
                if attempt:
                    time.sleep(self.connect_delay)
                try:
                    self._sock = socket.create_connection(
                        (self.host, self.port), timeout=self.timeout
                    )
                    break
                except OSError as exc:
                    last = exc
            else:
                raise InstrumentConnectionError(
                    f"cannot connect to the Nanonis controller at {self.host}:{self.port} "
                    f"after {self.connect_attempts} attempts: {last}"
                )
            self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._ever_connected:
                self.reconnects += 1
            self._ever_connected = True

    def close(self) -> None:
        """Close the connection (the next call reconnects)."""
        with self._lock:
            if self._sock is not None:
                try:
                    self._sock.close()
                finally:
                    self._sock = None

    def __enter__(self) -> NanonisClient:
        self.connect()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ calls
    def call(self, command: str, *args, timeout: float | None = None) -> list:
        """Send ``command`` with ``args`` and return its values (controller units).

        Raises
        ------
        ConfigurationError
            for an unknown command or arguments that do not fit its codes
            (before anything is sent).
        NanonisError
            when the controller answers with an error status.
        InstrumentTimeout, InstrumentConnectionError
            see the module docstring.
        """
        request = protocol.encode_request(command, args)
        with self._lock:
            try:
                return self._exchange(command, request, timeout)
            except InstrumentConnectionError:
                if not command.endswith("Get"):
                    raise
                log.warning("connection lost during %s; reconnecting once to read again", command)
                return self._exchange(command, request, timeout)

    def _exchange(self, command: str, request: bytes, timeout: float | None) -> list:
        self.connect()
        sock = self._sock
        wait = self.timeout if timeout is None else float(timeout)
        try:
            sock.settimeout(wait)
            sock.sendall(request)
            header = protocol.decode_header(self._recv(sock, protocol.HEADER_SIZE, command))
            if header.command != command:
                raise InstrumentConnectionError(
                    f"the controller answered {header.command!r} to {command!r}: stream out of step"
                )
            body = self._recv(sock, header.body_size, command)
            values, status, message = protocol.decode_response(command, body)
        except TimeoutError:
            self.close()
            raise InstrumentTimeout(
                f"Nanonis {command} gave no answer within {wait:g} s "
                f"({self.host}:{self.port}); connection closed"
            ) from None
        except DataFormatError as exc:
            self.close()
            raise InstrumentConnectionError(
                f"malformed answer to Nanonis {command}: {exc}"
            ) from exc
        except InstrumentConnectionError:
            self.close()
            raise
        except OSError as exc:
            self.close()
            raise InstrumentConnectionError(
                f"connection to {self.host}:{self.port} failed during Nanonis {command}: {exc}"
            ) from exc
        if status != 0:
            raise NanonisError(command, status, message)
        return values

    @staticmethod
    def _recv(sock: socket.socket, n: int, command: str) -> bytes:
        buf = bytearray()
        while len(buf) < n:
            chunk = sock.recv(min(n - len(buf), 1 << 20))
            if not chunk:
                raise InstrumentConnectionError(
                    f"connection closed after {len(buf)} of {n} bytes of the answer to "
                    f"Nanonis {command}"
                )
            buf += chunk
        return bytes(buf)
