"""A minimal receiver of OpenIIoT alarm webhooks: prints each event and whether its signature is valid.

    python3 docs/examples/webhook_receiver.py --port 9000 --secret <the rule's secret>

Standard library only. A real receiver should answer quickly (2xx), de-duplicate by `delivery_id` (a retry
carries the same one) and reject bodies whose signature does not match.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
from http.server import BaseHTTPRequestHandler, HTTPServer


def signature_ok(body: bytes, secret: str, header: str) -> bool:
    """`X-OpenIIoT-Signature` is `sha256=` + hex HMAC-SHA256 of the raw body with the rule's secret."""
    expected = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, header)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=9000)
    parser.add_argument("--secret", required=True)
    args = parser.parse_args()
    seen: set[str] = set()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            valid = signature_ok(body, args.secret, self.headers.get("X-OpenIIoT-Signature", ""))
            self.send_response(204 if valid else 401)
            self.end_headers()
            if not valid:
                print("signature MISMATCH: rejected", flush=True)
                return
            message = json.loads(body)
            if message["delivery_id"] in seen:
                return  # a retry of something already handled
            seen.add(message["delivery_id"])
            alarm = message["alarm"]
            print(
                f"{alarm['transition']:>12}  {alarm['severity']:<8} {alarm['alarm_type']} on "
                f"{alarm['originator_name']}  (rule {message['rule_name']!r}, signature ok)",
                flush=True,
            )

        def log_message(self, *_args: object) -> None:
            pass

    print(f"listening on http://127.0.0.1:{args.port}/", flush=True)
    HTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
