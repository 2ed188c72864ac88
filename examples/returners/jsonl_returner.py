#!/usr/bin/env python3
# UNTESTED: written against the wire contract (docs/contracts.md, docs/returners.md) only.
# nats-py and PyPI were not reachable where this was written, so it has never been run; treat
# it as a starting point and run it against a test stack before relying on it.
#
# jsonl_returner.py — a Natrium returner in Python, with only nats-py, msgpack and PyNaCl:
# appends every verified return to a JSON-lines file, as the built-in `jsonl` returner does,
# and behaves like a returner run by `natrium returner start`, so `natrium returners list`
# shows it:
#
#   * its durable consumer is `returner_<name>` on `{NS}_EVENTS`, filter `{ns}.>`, explicit
#     ack, max_deliver -1 (it counts attempts itself);
#   * a return is acknowledged only after it is written; a failed write is retried with a
#     growing delay (nak with delay); after MAX_DELIVER attempts the message is republished
#     as a dead letter on `{ns}.dead.<name>.failed` (headers Natrium-Dead-*), then acknowledged;
#   * a return that does not verify is never written: it goes to `{ns}.dead.<name>.refused`.
#
# Config (environment variables), with defaults:
#
#   NATS_URL      nats://127.0.0.1:4222
#   NATRIUM_NS    natrium
#   NAME          py-jsonl            the returner's name (letters, digits, _ and -)
#   OUT           returns.jsonl       the file to append to
#   MAX_DELIVER   5                   attempts before a dead letter
#
#   pip install nats-py msgpack pynacl
#   NAME=py-jsonl OUT=/var/log/natrium/py.jsonl python3 jsonl_returner.py

import asyncio
import base64
import json
import os
import time

import msgpack
import nats
import nats.errors
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import KeyNotFoundError
from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

NATS_URL = os.environ.get("NATS_URL", "nats://127.0.0.1:4222")
NS = os.environ.get("NATRIUM_NS", "natrium")
NAME = os.environ.get("NAME", "py-jsonl")
OUT = os.environ.get("OUT", "returns.jsonl")
MAX_DELIVER = int(os.environ.get("MAX_DELIVER", "5"))

STREAM = NS.upper().replace("-", "_") + "_EVENTS"
DURABLE = f"returner_{NAME}"
SAFE = set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
LIMITS = dict(max_str_len=4 << 20, max_bin_len=16 << 20, max_array_len=100_000,
              max_map_len=100_000, max_ext_len=0)


def encode_token(minion_id: str) -> str:
    return "".join(chr(b) if b in SAFE else f"={b:02x}" for b in minion_id.encode("utf-8"))


def unpack(data: bytes):
    return msgpack.unpackb(data, raw=False, strict_map_key=True, **LIMITS)


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
    ns, _job, jid, _ret, token = subject.split(".")
    if not isinstance(body, dict) or body.get("v") != 1 or body.get("type") != "job.ret":
        raise Refused("invalid: not a v1 job.ret body")
    if body.get("jid") != jid or encode_token(str(body.get("id"))) != token:
        raise Refused("invalid: the subject and the body disagree")
    if headers.get("Nats-Msg-Id", body["eid"]) != body["eid"]:
        raise Refused("invalid: Nats-Msg-Id is not the event id")
    return body


async def main() -> None:
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    keys = await js.key_value(f"{NS}_keys")
    out = open(OUT, "a", encoding="utf-8")

    async def accepted_pub(token: str):
        try:
            rec = unpack((await keys.get(f"minion.{token}")).value)
        except KeyNotFoundError:
            return None
        return rec["pub"] if rec.get("state") == "accepted" else None

    async def dead(msg, why: str, error: str, attempts: int) -> None:
        h = {k: v for k, v in (msg.headers or {}).items() if k in ("Natrium-Type", "Natrium-Signer", "Natrium-Sig")}
        if msg.headers and "Nats-Msg-Id" in msg.headers:
            h["Natrium-Dead-Eid"] = msg.headers["Nats-Msg-Id"]
        h.update({
            "Natrium-Dead-Subject": msg.subject,
            "Natrium-Dead-Seq": str(msg.metadata.sequence.stream),
            "Natrium-Dead-Error": error.replace("\n", " ")[:2000],
            "Natrium-Dead-Attempts": str(attempts),
            "Natrium-Dead-Returner": NAME,
            "Natrium-Dead-Ts": str(int(time.time() * 1000)),
            # Natrium-Dead-* plus a stable id: a second copy within 2 minutes is dropped.
            "Nats-Msg-Id": f"{NAME}.{msg.metadata.sequence.stream}.{why}",
        })
        await js.publish(f"{NS}.dead.{NAME}.{why}", msg.data, headers=h)
        await msg.ack()

    async def on_msg(msg) -> None:
        headers = msg.headers or {}
        attempts = msg.metadata.num_delivered
        if headers.get("Natrium-Type") != "job.ret":
            await msg.ack()  # this returner wants returns only; the consumer sees every event
            return
        try:
            token = msg.subject.rsplit(".", 1)[-1]
            body = verify_return(msg.subject, msg.data, headers, await accepted_pub(token))
        except (Refused, KeyError, TypeError, ValueError) as err:
            await dead(msg, "refused", str(err), attempts)
            return
        try:
            body.pop("v"), body.pop("type")
            out.write(json.dumps({"kind": "ret", **body, "seq": msg.metadata.sequence.stream,
                                  "subject": msg.subject}, default=str) + "\n")
            out.flush()
        except Exception as err:  # noqa: BLE001 - any failure is a failed delivery
            if attempts >= MAX_DELIVER:
                await dead(msg, "failed", str(err), attempts)
            else:
                await msg.nak(delay=min(60.0, 1.0 * 2 ** (attempts - 1)))
            return
        await msg.ack()

    # A pull consumer, like the TypeScript host's: processes of either kind with the same NAME
    # share one durable and its work.
    psub = await js.pull_subscribe(
        f"{NS}.>", durable=DURABLE, stream=STREAM,
        config=ConsumerConfig(durable_name=DURABLE, ack_policy=AckPolicy.EXPLICIT,
                              deliver_policy=DeliverPolicy.NEW, max_deliver=-1,
                              ack_wait=30, description=f"Natrium returner {NAME}"),
    )
    while True:
        try:
            msgs = await psub.fetch(100, timeout=5)
        except nats.errors.TimeoutError:
            continue
        for msg in msgs:
            await on_msg(msg)

if __name__ == "__main__":
    asyncio.run(main())
