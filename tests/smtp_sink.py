#!/usr/bin/env python3
"""SMTP sink for Waybill's integration tests: stores every message it receives as a file.

Usage: smtp_sink.py --port PORT --dir DIR [--host 127.0.0.1]

Each message becomes DIR/<ns timestamp>-<n>.eml (the raw message, envelope recipients
prepended as X-Sink-Rcpt-To headers) plus DIR/<same name>.json (envelope and the decoded
MIME parts, parsed by Python's email package). Both are written to a temporary name and
renamed, the .json first, so a reader that sees the .eml can read both. Prints `ready`
on stdout once it listens. Plain SMTP only: no TLS, no auth.
"""

import argparse
import asyncio
import email
import email.policy
import itertools
import json
import os
import signal
import sys
import time

try:
    from aiosmtpd.smtp import SMTP
except ImportError:
    print(
        "smtp_sink: the Python package aiosmtpd is missing; run tests/setup",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(3)


def write_atomically(path, data):
    tmp = os.path.join(os.path.dirname(path), "." + os.path.basename(path) + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def decoded_parts(raw):
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        try:
            content = part.get_content()
        except Exception as err:  # keep the sink alive; the test will see the error
            content = f"<undecodable part: {err}>"
        if isinstance(content, bytes):
            content = content.decode("utf-8", "replace")
        parts.append(
            {
                "content_type": part.get_content_type(),
                "content_transfer_encoding": str(part.get("Content-Transfer-Encoding", "")),
                "content": content,
            }
        )
    headers = {}
    for name, value in msg.items():
        headers.setdefault(name.lower(), str(value))
    return {
        "content_type": msg.get_content_type(),
        "is_multipart": msg.is_multipart(),
        "headers": headers,
        "parts": parts,
    }


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8")
        name = f"{time.time_ns():020d}-{next(self.counter):06d}"
        try:
            summary = decoded_parts(raw)
        except Exception as err:
            summary = {"parse_error": str(err), "parts": [], "headers": {}}
        summary["mail_from"] = envelope.mail_from
        summary["rcpt_tos"] = list(envelope.rcpt_tos)
        prefix = "".join(f"X-Sink-Rcpt-To: {r}\r\n" for r in envelope.rcpt_tos)
        write_atomically(
            os.path.join(self.directory, name + ".json"),
            json.dumps(summary, indent=1).encode("utf-8"),
        )
        write_atomically(
            os.path.join(self.directory, name + ".eml"), prefix.encode("ascii") + raw
        )
        return "250 Message accepted for delivery"


async def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)

    handler = Handler(args.dir)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="smtp-sink.test"),
        host=args.host,
        port=args.port,
        reuse_address=True,
    )
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print("ready", flush=True)
    await stop.wait()
    # Do not wait for open client connections: stopping means stop listening now.
    server.close()


if __name__ == "__main__":
    asyncio.run(main())
