"""A merchant's webhook receiver for the black-box tests.

Verifies every delivery with the independent `standardwebhooks` library (PyPI), never with
our own code, and appends one JSON line per delivery to LOG:
{"webhookId", "verified", "error", "event", "answered"}. It answers the statuses given, one per
delivery in order (the last one repeats): `500,200` fails the first delivery, then takes the rest;
`timeout` logs the delivery, then holds the answer (200) for 20 s, past the sender's 15 s.

    python webhook_receiver.py PORT SECRET_FILE LOG ANSWERS

The endpoint's secret is read from SECRET_FILE on every delivery: it exists only once the test
has registered the endpoint (whose URL needs this receiver's port).
"""

import http.server
import json
import sys
import threading
import time

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

port, secret_file, log_path, answers = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4].split(",")
lock = threading.Lock()
deliveries = 0


class Receiver(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        global deliveries
        body = self.rfile.read(int(self.headers.get("content-length", "0"))).decode()
        headers = {name.lower(): value for name, value in self.headers.items()}
        with open(secret_file) as f:
            secret = f.read().strip()
        record = {"webhookId": headers.get("webhook-id"), "verified": False, "error": None, "event": None}
        try:
            record["event"] = Webhook(secret).verify(body, headers)
            record["verified"] = True
        except WebhookVerificationError as error:
            record["error"] = str(error)
        with lock:
            answer = answers[min(deliveries, len(answers) - 1)]
            deliveries += 1
            record["answered"] = answer if answer == "timeout" else int(answer)
            with open(log_path, "a") as log:
                log.write(json.dumps(record) + "\n")
        if answer == "timeout":
            time.sleep(20)
        self.send_response(200 if answer == "timeout" else int(answer))
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", port), Receiver).serve_forever()
