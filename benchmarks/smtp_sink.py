"""A minimal SMTP server for the bench's dispatch section: accepts every message and counts its Message-Id.

The tests' sink (receivable_dunning/tests/smtp_sink.py) needs aiosmtpd, which the bench virtualenv does not hold;
this one is the standard library only (socketserver, one thread per connection). It speaks just what Odoo's
smtplib client uses: EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, QUIT. No TLS, no authentication: it listens on
127.0.0.1 only.
"""

import socketserver
import threading
import time
from collections import Counter


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, text):
        self.wfile.write(f"{text}\r\n".encode())

    def handle(self):
        sink = self.server.sink
        self.reply("220 rd-bench-sink ESMTP")
        while True:
            line = self.rfile.readline()
            if not line:
                return
            verb = line[:4].upper()
            if verb == b"EHLO":
                self.wfile.write(b"250-rd-bench-sink\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE 104857600\r\n")
            elif verb in (b"HELO", b"MAIL", b"RCPT", b"RSET", b"NOOP"):
                self.reply("250 OK")
            elif verb == b"DATA":
                if not self.receive(sink):
                    return
            elif verb == b"QUIT":
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")

    def receive(self, sink):
        """Read one message up to its final dot, count its Message-Id; False when the client went away."""
        self.reply("354 End data with <CR><LF>.<CR><LF>")
        message_id, in_headers = None, True
        while True:
            data = self.rfile.readline()
            if not data:
                return False
            if data in (b".\r\n", b".\n"):
                break
            if in_headers:
                if data in (b"\r\n", b"\n"):
                    in_headers = False
                elif data[:11].lower() == b"message-id:":
                    message_id = data[11:].strip().decode(errors="replace")
        sink.accept(message_id)
        self.reply("250 Message accepted for delivery")
        return True


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64


class SmtpSink:
    """Context manager: the sink on 127.0.0.1, on a free port (``.port``); ``stats()`` reads its counts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.sink = self
        self.port = self.server.server_address[1]
        self.reset()

    def __enter__(self):
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc_info):
        self.server.shutdown()
        self.server.server_close()

    def reset(self):
        with self.lock:
            self.ids = Counter()
            self.first = self.last = None

    def accept(self, message_id):
        now = time.time()
        with self.lock:
            self.ids[message_id] += 1
            self.first = self.first or now
            self.last = now

    def stats(self):
        """Messages accepted, distinct Message-Ids, messages beyond the first of their Message-Id, first/last times."""
        with self.lock:
            total = sum(self.ids.values())
            return {
                "messages": total,
                "distinct": len(self.ids),
                "twice": total - len(self.ids),
                "without_id": self.ids.get(None, 0),
                "first": self.first,
                "last": self.last,
            }
