#!/usr/bin/env python3
"""A real SMTP server on loopback for the tests (aiosmtpd), started by
scripts/lib.sh start_smtp: every message it receives is written to DIR as
one JSON file, {"mail_from", "rcpt_tos", "to", "subject", "body"}, the body
decoded (quoted-printable, base64) to text. A test sends through the demo
with SMTP_URL=smtp://127.0.0.1:PORT and reads DIR.

    smtp-sink.py --port PORT --dir DIR
"""
import argparse
import email
import email.policy
import json
import os
import signal
import threading
import uuid

from aiosmtpd.controller import Controller


class Sink:
    def __init__(self, directory):
        self.directory = directory

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        part = message.get_body(preferencelist=("plain",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": list(envelope.rcpt_tos),
            "to": str(message.get("To", "")),
            "subject": str(message.get("Subject", "")),
            "body": part.get_content() if part is not None else "",
        }
        name = str(uuid.uuid4())
        temporary = os.path.join(self.directory, f".{name}.tmp")
        with open(temporary, "w", encoding="utf-8") as file:
            json.dump(record, file)
        # Whole files only: a reader never sees a half-written message.
        os.rename(temporary, os.path.join(self.directory, f"{name}.json"))
        return "250 Message accepted for delivery"


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dir", required=True)
    args = parser.parse_args()
    os.makedirs(args.dir, exist_ok=True)
    controller = Controller(Sink(args.dir), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    print(f"smtp-sink listening on 127.0.0.1:{args.port}, writing {args.dir}", flush=True)
    stop.wait()
    controller.stop()


if __name__ == "__main__":
    main()
