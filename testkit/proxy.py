"""A loopback TCP proxy whose client-to-server direction can be frozen.

Bytes a client sends while the proxy is frozen are held and delivered when it thaws: a network
that delays one worker's requests, so a fault scenario can make a request arrive *late* at the
web node, deterministically. Answers always flow.
"""

from __future__ import annotations

import socket
import threading

from testkit.processes import free_port


class FreezableProxy:
    def __init__(self, upstream_port: int, upstream_host: str = "127.0.0.1") -> None:
        self._upstream = (upstream_host, upstream_port)
        self.port = free_port()
        self._flowing = threading.Event()
        self._flowing.set()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def freeze(self) -> None:
        """Hold whatever clients send from now on."""
        self._flowing.clear()

    def thaw(self) -> None:
        """Deliver what was held, and everything after it."""
        self._flowing.set()

    def close(self) -> None:
        self._closed.set()
        self._flowing.set()
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                close_socket(sock)

    def __enter__(self) -> FreezableProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                server = socket.create_connection(self._upstream, timeout=5)
            except OSError:  # the web node is down: so is the proxied connection
                close_socket(client)
                continue
            server.settimeout(None)
            with self._lock:
                self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, holdable: bool) -> None:
        try:
            while data := source.recv(65536):
                if holdable:
                    self._flowing.wait()
                sink.sendall(data)
        except OSError:
            pass
        finally:
            close_socket(source)
            close_socket(sink)


def close_socket(sock: socket.socket) -> None:
    """Shut down both ways (unblocking a thread in recv), then close; errors ignored."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    sock.close()
