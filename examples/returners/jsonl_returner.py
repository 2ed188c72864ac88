#!/usr/bin/env python3
# jsonl_returner.py — a Natrium returner in Python that uses only the wire contract
# (docs/contracts.md, docs/returners.md): it appends every verified return to a JSON-lines file,
# as the built-in `jsonl` returner does, and behaves like a returner run by
# `natrium returner start`, so `natrium returners list` shows it:
#
#   * its durable consumer is `returner_<name>` on `{NS}_EVENTS`, filter `{ns}.>`, explicit
#     ack, max_deliver -1 (it counts attempts itself);
#   * a return is acknowledged only after it is written; a failed write is retried with a
#     growing delay (nak with delay); after MAX_DELIVER attempts the message is republished
#     as a dead letter on `{ns}.dead.<name>.failed` (headers Natrium-Dead-*), then acknowledged;
#   * a return that does not verify is never written: it goes to `{ns}.dead.<name>.refused`.
#
# It speaks the NATS protocol itself (the `Nats` class below, ~120 lines: the client protocol
# and four JetStream API calls), so its only packages are msgpack and PyNaCl, which Debian
# ships: `apt-get install python3-msgpack python3-nacl` (or `pip install msgpack pynacl`).
# With nats-py, the Nats class is what `nats.connect()` and `js.pull_subscribe()` give you.
# test/integration/returners-python.test.ts runs it against a real nats-server.
#
# Config (environment variables), with defaults:
#
#   NATS_URL      nats://127.0.0.1:4222   (user:password@ in the URL for a server with users)
#   NATRIUM_NS    natrium
#   NAME          py-jsonl            the returner's name (letters, digits, _ and -)
#   OUT           returns.jsonl       the file to append to
#   MAX_DELIVER   5                   attempts before a dead letter
#   RETRY_BASE    1.0                 seconds before the first retry of a failed write; doubles, at most 60
#   FROM          new                 where a new durable starts: new, or all (backfill the stream)
#
#   NAME=py-jsonl OUT=/var/log/natrium/py.jsonl python3 jsonl_returner.py

import base64
import json
import os
import signal
import socket
import sys
import time
import uuid
from urllib.parse import urlparse

import msgpack
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
NS = os.environ.get("NATRIUM_NS", "natrium")
NAME = os.environ.get("NAME", "py-jsonl")
OUT = os.environ.get("OUT", "returns.jsonl")
MAX_DELIVER = int(os.environ.get("MAX_DELIVER", "5"))
RETRY_BASE = float(os.environ.get("RETRY_BASE", "1.0"))
FROM = os.environ.get("FROM", "new")

STREAM = NS.upper().replace("-", "_") + "_EVENTS"
DURABLE = f"returner_{NAME}"
KEYS_STREAM = f"KV_{NS}_keys"
SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
LIMITS = dict(max_str_len=4 << 20, max_bin_len=16 << 20, max_array_len=100_000,
              max_map_len=100_000, max_ext_len=0)


class NatsError(Exception):
    pass


class Nats:
    """The NATS client protocol over one TCP connection: enough for a pull consumer."""

    def __init__(self, url: str):
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), timeout=10)
        self.buf = b""
        self.inbox = f"_INBOX.{uuid.uuid4().hex}"
        # Messages of a pull that arrived while a request waited for its reply.
        self.pending = []
        info = self._line()
        if not info.startswith(b"INFO "):
            raise NatsError(f"not a NATS server: {info[:80]!r}")
        opts = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True,
                "protocol": 1, "lang": "python-example", "version": "1", "name": f"natrium-returner-{NAME}"}
        if u.username:
            opts.update(user=u.username, **{"pass": u.password or ""})
        self._send(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        while True:
            line = self._line()
            if line == b"PONG":
                break
            if line.startswith(b"-ERR"):
                raise NatsError(line.decode(errors="replace"))
        self._send(f"SUB {self.inbox}.* 1\r\n".encode())

    def _send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise NatsError("the server closed the connection")
        self.buf += chunk

    def _line(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n: int) -> bytes:
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def publish(self, subject: str, data: bytes, headers: dict | None = None, reply: str = "") -> None:
        r = f" {reply}" if reply else ""
        if headers:
            hb = ("NATS/1.0\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n").encode()
            self._send(f"HPUB {subject}{r} {len(hb)} {len(hb) + len(data)}\r\n".encode() + hb + data + b"\r\n")
        else:
            self._send(f"PUB {subject}{r} {len(data)}\r\n".encode() + data + b"\r\n")

    def next_msg(self, deadline: float):
        """The next message for our inbox: (subject, reply, headers, status, data), or None at the deadline."""
        while True:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            try:
                line = self._line()
            except (socket.timeout, TimeoutError):
                return None
            if line == b"PING":
                self._send(b"PONG\r\n")
            elif line.startswith(b"-ERR"):
                raise NatsError(line.decode(errors="replace"))
            elif line.startswith(b"MSG ") or line.startswith(b"HMSG "):
                parts = line.decode().split(" ")
                hlen = int(parts[-2]) if parts[0] == "HMSG" else 0
                total = int(parts[-1])
                reply = parts[3] if len(parts) == (6 if hlen else 5) else ""
                raw = self._bytes(total)
                headers, status = {}, ""
                if hlen:
                    lines = raw[:hlen].decode("utf-8", errors="replace").split("\r\n")
                    status = lines[0][len("NATS/1.0"):].strip()
                    for h in lines[1:]:
                        if ": " in h:
                            k, v = h.split(": ", 1)
                            headers[k] = v
                return parts[1], reply, headers, status, raw[hlen:]
            # +OK, PONG, INFO: nothing to do

    def request(self, subject: str, body: dict | bytes, headers: dict | None = None, timeout: float = 5.0) -> dict:
        """A JetStream API call (or a publish to a stream, which answers with its ack): the JSON reply."""
        token = uuid.uuid4().hex
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.publish(subject, data, headers, reply=f"{self.inbox}.{token}")
        deadline = time.monotonic() + timeout
        while True:
            m = self.next_msg(deadline)
            if m is None:
                raise NatsError(f"no reply from {subject} within {timeout} s")
            if m[1].startswith("$JS.ACK."):
                self.pending.append((m[0], m[1], m[2], m[4]))  # a pulled message: fetch() hands it out
                continue
            if m[0] != f"{self.inbox}.{token}":
                continue  # the status of an earlier pull
            if m[3].startswith("503"):
                raise NatsError(f"no responders on {subject} (is JetStream on?)")
            reply = json.loads(m[4])
            if "error" in reply:
                raise NatsError(f"{subject}: {reply['error'].get('description')} ({reply['error'].get('err_code')})")
            return reply

    def fetch(self, batch: int, expires: float):
        """Up to `batch` messages of the durable, waiting at most `expires` seconds: (subject, reply, headers, data)."""
        if self.pending:
            out, self.pending = self.pending, []
            return out
        token = uuid.uuid4().hex
        self.publish(f"$JS.API.CONSUMER.MSG.NEXT.{STREAM}.{DURABLE}",
                     json.dumps({"batch": batch, "expires": int(expires * 1e9)}).encode(), reply=f"{self.inbox}.{token}")
        out, deadline = [], time.monotonic() + expires + 1
        while len(out) < batch:
            m = self.next_msg(deadline)
            if m is None or (m[0] == f"{self.inbox}.{token}" and m[3]):
                break  # the pull expired (a 404/408 status) or the wait is over
            # A pulled message keeps the subject it was published on; its reply is its ack subject.
            if m[1].startswith("$JS.ACK."):
                out.append((m[0], m[1], m[2], m[4]))
        return out


def encode_token(minion_id: str) -> str:
    return "".join(chr(b) if b in SAFE else f"={b:02x}" for b in minion_id.encode("utf-8"))


def unpack(data: bytes):
    return msgpack.unpackb(data, raw=False, strict_map_key=True, **LIMITS)


def ack_meta(reply: str):
    """Stream sequence and delivery count from a JetStream ack subject (both of its forms)."""
    t = reply.split(".")
    if len(t) == 9:  # $JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<ts>.<pending>
        return int(t[5]), int(t[4])
    return int(t[7]), int(t[6])  # $JS.ACK.<domain>.<account>.<stream>.<consumer>.<delivered>.<sseq>…


class Refused(Exception):
    """The message is not a genuine return: never deliver it."""


def verify_return(subject: str, data: bytes, headers: dict, accepted_pub) -> dict:
    signer, sig = headers.get("Natrium-Signer", ""), headers.get("Natrium-Sig", "")
    if not accepted_pub or signer != accepted_pub:
        raise Refused("unknown_signer: not signed by the minion's accepted key")
    try:
        VerifyKey(base64.b64decode(signer, validate=True)).verify(
            subject.encode("utf-8") + b"\n" + data, base64.b64decode(sig, validate=True))
    except (BadSignatureError, ValueError) as err:
        raise Refused(f"bad_signature: {err}")
    try:
        body = unpack(data)
    except ValueError as err:
        raise Refused(f"bad_payload: {err}")
    _ns, _job, jid, _ret, token = subject.split(".")
    if not isinstance(body, dict) or body.get("v") != 1 or body.get("type") != "job.ret":
        raise Refused("invalid: not a v1 job.ret body")
    if body.get("jid") != jid or encode_token(str(body.get("id"))) != token:
        raise Refused("invalid: the subject and the body disagree")
    if headers.get("Nats-Msg-Id", body["eid"]) != body["eid"]:
        raise Refused("invalid: Nats-Msg-Id is not the event id")
    return body


def main() -> None:
    nc = Nats(NATS_URL)
    out = open(OUT, "a", encoding="utf-8")
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))

    def accepted_pub(token: str):
        # The keys bucket is a stream: its last message for the key is the record.
        try:
            r = nc.request(f"$JS.API.STREAM.MSG.GET.{KEYS_STREAM}", {"last_by_subj": f"$KV.{NS}_keys.minion.{token}"})
        except NatsError as err:
            if "(10037)" in str(err):  # no message found: no such minion
                return None
            raise
        m = r["message"]
        if "KV-Operation" in base64.b64decode(m.get("hdrs") or "").decode("utf-8", errors="replace"):
            return None  # deleted or purged
        rec = unpack(base64.b64decode(m["data"]))
        return rec["pub"] if rec.get("state") == "accepted" else None

    def dead(subject, reply, headers, data, why: str, error: str, attempts: int) -> None:
        seq, _ = ack_meta(reply)
        h = {k: v for k, v in headers.items() if k in ("Natrium-Type", "Natrium-Signer", "Natrium-Sig")}
        if "Nats-Msg-Id" in headers:
            h["Natrium-Dead-Eid"] = headers["Nats-Msg-Id"]
        h.update({
            "Natrium-Dead-Subject": subject,
            "Natrium-Dead-Seq": str(seq),
            "Natrium-Dead-Error": error.replace("\r", " ").replace("\n", " ")[:2000],
            "Natrium-Dead-Attempts": str(attempts),
            "Natrium-Dead-Returner": NAME,
            "Natrium-Dead-Ts": str(int(time.time() * 1000)),
            # A stable id: a second copy within the dead stream's window is dropped.
            "Nats-Msg-Id": f"{NAME}.{seq}.{why}",
        })
        # Acknowledged only once the dead-letter stream stored it.
        nc.request(f"{NS}.dead.{NAME}.{why}", data, headers=h)
        nc.publish(reply, b"+ACK")

    def on_msg(subject, reply, headers, data) -> None:
        seq, attempts = ack_meta(reply)
        if headers.get("Natrium-Type") != "job.ret":
            nc.publish(reply, b"+ACK")  # this returner wants returns only; the consumer sees every event
            return
        try:
            body = verify_return(subject, data, headers, accepted_pub(subject.rsplit(".", 1)[-1]))
        except (Refused, KeyError, TypeError, ValueError) as err:
            dead(subject, reply, headers, data, "refused", str(err), attempts)
            return
        try:
            body.pop("v"), body.pop("type")
            out.write(json.dumps({"kind": "ret", **body, "seq": seq, "subject": subject}, default=str) + "\n")
            out.flush()
        except Exception as err:  # noqa: BLE001 - any failure is a failed delivery
            if attempts >= MAX_DELIVER:
                dead(subject, reply, headers, data, "failed", str(err), attempts)
            else:
                delay = min(60.0, RETRY_BASE * 2 ** (attempts - 1))
                nc.publish(reply, b"-NAK " + json.dumps({"delay": int(delay * 1e9)}).encode())
            return
        nc.publish(reply, b"+ACK")

    # A pull consumer, like the TypeScript host's: processes of either kind with the same NAME
    # share one durable and its work. An existing durable is used as it is.
    try:
        nc.request(f"$JS.API.CONSUMER.INFO.{STREAM}.{DURABLE}", b"")
    except NatsError as err:
        if "(10014)" not in str(err):  # anything but "consumer not found"
            raise
        nc.request(f"$JS.API.CONSUMER.DURABLE.CREATE.{STREAM}.{DURABLE}", {"stream_name": STREAM, "config": {
            "durable_name": DURABLE, "ack_policy": "explicit", "deliver_policy": FROM, "max_deliver": -1,
            "filter_subject": f"{NS}.>", "ack_wait": 30_000_000_000, "max_ack_pending": 1000,
            "description": f"Natrium returner {NAME} (Python)"}})
    print(json.dumps({"msg": "returner started", "consumer": DURABLE, "stream": STREAM}), flush=True)
    while not stopping:
        for m in nc.fetch(100, expires=1.0):
            on_msg(*m)
    print(json.dumps({"msg": "stopped"}), flush=True)


if __name__ == "__main__":
    try:
        main()
    except (NatsError, OSError) as err:
        print(f"jsonl_returner: {err}", file=sys.stderr)
        sys.exit(1)
