"""A real SMTP server for the email tests (aiosmtpd).

Usage: smtp_sink.py [--starttls CERT KEY] [--user NAME --password SECRET]

Listens on 127.0.0.1 on a free port and prints `READY <port>`, then one
JSON line per message received: the envelope, every header (unfolded), the
decoded plain-text and HTML parts, and the user that logged in. With
--starttls, STARTTLS is offered and required before MAIL; with --user,
AUTH (PLAIN or LOGIN) is required and checked.
"""

import asyncio
import email
import email.policy
import json
import socket
import ssl
import sys

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Sink:
    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        text = message.get_body(preferencelist=("plain",))
        html = message.get_body(preferencelist=("html",))
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "headers": {k: str(v) for k, v in message.items()},
            "content_type": message.get_content_type(),
            "text": text.get_content() if text is not None else None,
            "html": html.get_content() if html is not None else None,
            "user": session.auth_data.login.decode() if session.auth_data else None,
            "tls": session.ssl is not None,
        }
        print(json.dumps(record), flush=True)
        return "250 Message accepted for delivery"


def main():
    args = sys.argv[1:]
    tls_context = None
    user = password = None
    while args:
        flag = args.pop(0)
        if flag == "--starttls":
            cert, key = args.pop(0), args.pop(0)
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            tls_context.load_cert_chain(cert, key)
        elif flag == "--user":
            user = args.pop(0)
        elif flag == "--password":
            password = args.pop(0)
        else:
            raise SystemExit(f"unknown flag {flag}")

    def authenticator(server, session, envelope, mechanism, auth_data):
        ok = auth_data.login.decode() == user and auth_data.password.decode() == password
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    port = free_port()
    kwargs = {}
    if tls_context is not None:
        kwargs.update(tls_context=tls_context, require_starttls=True)
    if user is not None:
        kwargs.update(authenticator=authenticator, auth_required=True)
        if tls_context is None:
            kwargs.update(auth_require_tls=False)
    controller = Controller(Sink(), hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs)
    controller.start()
    print(f"READY {port}", flush=True)
    try:
        sys.stdin.read()
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
