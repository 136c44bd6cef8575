#!/usr/bin/env python3
"""A stand-in for redis_exporter's ``redis_up`` gauge, for tests on machines without redis_exporter.

Serves ``GET /metrics`` on a loopback port: ``redis_up 1`` when the Redis server answers PING within
0.5 s, else ``redis_up 0`` (the meaning redis_exporter gives the metric). Nothing else of redis_exporter
is imitated. Standard library only.

    redis_up_exporter.py --redis-port 6379 --port 9121
"""

from __future__ import annotations

import argparse
import socket
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def redis_answers(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--redis-host", default="127.0.0.1")
    parser.add_argument("--redis-port", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/metrics":
                self.send_error(404)
                return
            up = 1 if redis_answers(args.redis_host, args.redis_port) else 0
            body = (b"# HELP redis_up Information about the Redis instance\n# TYPE redis_up gauge\n"
                    + f"redis_up {up}\n".encode())
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *fmt_args: object) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", args.port), Handler) as server:
        server.serve_forever()


if __name__ == "__main__":
    main()
