#!/usr/bin/env python3
"""Minimal stub of the Keystone v3 identity API, for running tempest against a
noauth Bare Metal endpoint.

Stdlib only. It accepts any user/password, issues project-, domain-, system-
scoped or unscoped tokens (whatever the request asks for) and returns a
service catalog whose ``baremetal`` endpoints (public/internal/admin,
RegionOne) point at the server under test. A noauth server ignores the
X-Auth-Token it then receives.

Endpoints:
  GET  /                    300 version list
  GET  /v3                  200 version document
  POST /v3/auth/tokens      201 + X-Subject-Token header
  GET  /v3/auth/tokens      200 (validate X-Subject-Token) or 404
  HEAD /v3/auth/tokens      200/404
  DELETE /v3/auth/tokens    204
  GET  /v3/auth/catalog     200 catalog of the caller's token

Usage:
  keystone_stub.py --port 5000 --baremetal-url http://127.0.0.1:6385
  (--port 0 picks a free port; --port-file FILE writes the bound port.)
  The baremetal URL may also come from $FERRIC_BAREMETAL_URL.
"""

import argparse
import datetime
import hashlib
import json
import os
import signal
import sys
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

REGION = "RegionOne"
DEFAULT_DOMAIN = {"id": "default", "name": "Default"}


def _stable_id(*parts):
    """Deterministic 32-hex id from names, like Keystone's uuid4().hex ids."""
    return hashlib.md5("/".join(parts).encode(), usedforsecurity=False).hexdigest()


def _iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class State:
    def __init__(self, baremetal_url, public_url, verbose):
        self.baremetal_url = baremetal_url.rstrip("/")
        self.public_url = public_url.rstrip("/")
        self.verbose = verbose
        self.tokens = {}
        self.lock = threading.Lock()

    def catalog(self):
        def endpoints(url, service):
            return [
                {
                    "id": _stable_id(service, iface),
                    "interface": iface,
                    "region": REGION,
                    "region_id": REGION,
                    "url": url,
                }
                for iface in ("public", "internal", "admin")
            ]

        return [
            {
                "id": _stable_id("service", "baremetal"),
                "type": "baremetal",
                "name": "ironic",
                "endpoints": endpoints(self.baremetal_url, "baremetal"),
            },
            {
                "id": _stable_id("service", "identity"),
                "type": "identity",
                "name": "keystone",
                "endpoints": endpoints(self.public_url + "/v3", "identity"),
            },
        ]


def _domain_ref(ref):
    """Resolve a {'id':..} / {'name':..} domain reference."""
    if not ref:
        return dict(DEFAULT_DOMAIN)
    if "id" in ref and ref["id"]:
        name = "Default" if ref["id"] == "default" else ref.get("name", ref["id"])
        return {"id": ref["id"], "name": name}
    name = ref.get("name") or "Default"
    did = "default" if name == "Default" else _stable_id("domain", name)
    return {"id": did, "name": name}


def build_token(state, body):
    auth = (body or {}).get("auth") or {}
    identity = auth.get("identity") or {}
    methods = identity.get("methods") or ["password"]

    user_req = {}
    if "password" in identity:
        user_req = (identity["password"] or {}).get("user") or {}
    elif "token" in identity:
        # Re-scoping an existing token: inherit its user.
        old = state.tokens.get((identity["token"] or {}).get("id", ""))
        if old is None:
            return None
        user_req = {"id": old["user"]["id"], "name": old["user"]["name"],
                    "domain": old["user"]["domain"]}
    user_domain = _domain_ref(user_req.get("domain"))
    user_name = user_req.get("name") or user_req.get("id") or "admin"
    user_id = user_req.get("id") or _stable_id("user", user_domain["id"], user_name)

    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    token = {
        "methods": methods,
        "user": {
            "id": user_id,
            "name": user_name,
            "domain": user_domain,
            "password_expires_at": None,
        },
        "audit_ids": [uuid.uuid4().hex[:22]],
        "issued_at": _iso(now),
        "expires_at": _iso(now + datetime.timedelta(hours=12)),
    }

    scope = auth.get("scope")
    role_names = ["admin", "member", "reader"]
    scoped = False
    if isinstance(scope, dict) and "project" in scope:
        p = scope["project"] or {}
        pdom = _domain_ref(p.get("domain"))
        pname = p.get("name") or p.get("id") or "admin"
        pid = p.get("id") or _stable_id("project", pdom["id"], pname)
        token["project"] = {"id": pid, "name": pname, "domain": pdom}
        token["is_domain"] = False
        scoped = True
    elif isinstance(scope, dict) and "domain" in scope:
        token["domain"] = _domain_ref(scope["domain"])
        scoped = True
    elif isinstance(scope, dict) and "system" in scope:
        token["system"] = {"all": True}
        scoped = True

    if scoped:
        token["roles"] = [{"id": _stable_id("role", r), "name": r}
                          for r in role_names]
        token["catalog"] = state.catalog()
    return token


class Handler(BaseHTTPRequestHandler):
    server_version = "keystone-stub/1.0"
    protocol_version = "HTTP/1.1"

    @property
    def state(self):
        return self.server.state

    def log_message(self, fmt, *args):  # noqa: D401 - stdlib signature
        if self.state.verbose:
            sys.stderr.write("keystone-stub: %s - %s\n" % (
                self.address_string(), fmt % args))

    def _send(self, code, body=None, headers=None):
        data = b""
        if body is not None:
            data = json.dumps(body).encode()
        self.send_response(code)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Vary", "X-Auth-Token")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD" and data:
            self.wfile.write(data)

    def _read_json(self):
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            return None

    def _path(self):
        return self.path.split("?", 1)[0].rstrip("/") or "/"

    def _version(self):
        return {
            "id": "v3.14",
            "status": "stable",
            "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": self.state.public_url + "/v3/"}],
            "media-types": [{
                "base": "application/json",
                "type": "application/vnd.openstack.identity-v3+json",
            }],
        }

    def _error(self, code, title, message):
        self._send(code, {"error": {"code": code, "title": title,
                                    "message": message}})

    def _lookup(self, header):
        tok = self.headers.get(header)
        with self.state.lock:
            return tok, self.state.tokens.get(tok or "")

    def do_GET(self):
        path = self._path()
        if path == "/":
            self._send(300, {"versions": {"values": [self._version()]}})
        elif path == "/v3":
            self._send(200, {"version": self._version()})
        elif path == "/v3/auth/tokens":
            tok, data = self._lookup("X-Subject-Token")
            if data is None:
                self._error(404, "Not Found", "Could not find token: %s" % tok)
            else:
                self._send(200, {"token": data}, {"X-Subject-Token": tok})
        elif path == "/v3/auth/catalog":
            _, data = self._lookup("X-Auth-Token")
            if data is None:
                self._error(401, "Unauthorized", "The request you have made "
                            "requires authentication.")
            else:
                self._send(200, {"catalog": data.get("catalog", []),
                                 "links": {"self": self.state.public_url
                                           + "/v3/auth/catalog"}})
        else:
            self._error(404, "Not Found", "The resource could not be found.")

    do_HEAD = do_GET

    def do_POST(self):
        path = self._path()
        if path != "/v3/auth/tokens":
            self._error(404, "Not Found", "The resource could not be found.")
            return
        body = self._read_json()
        if body is None:
            self._error(400, "Bad Request", "Malformed JSON body.")
            return
        with self.state.lock:
            token = build_token(self.state, body)
            if token is None:
                self._error(404, "Not Found", "Could not find token.")
                return
            tid = "gAAAA" + uuid.uuid4().hex + uuid.uuid4().hex
            self.state.tokens[tid] = token
        self._send(201, {"token": token}, {"X-Subject-Token": tid})

    def do_DELETE(self):
        if self._path() != "/v3/auth/tokens":
            self._error(404, "Not Found", "The resource could not be found.")
            return
        tok = self.headers.get("X-Subject-Token") or ""
        with self.state.lock:
            found = self.state.tokens.pop(tok, None)
        if found is None:
            self._error(404, "Not Found", "Could not find token: %s" % tok)
        else:
            self._send(204)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--host", default="127.0.0.1",
                    help="bind address (default 127.0.0.1)")
    ap.add_argument("--port", type=int, default=5000,
                    help="TCP port; 0 picks a free one (default 5000)")
    ap.add_argument("--port-file",
                    help="write the bound port number to this file")
    ap.add_argument("--baremetal-url",
                    default=os.environ.get("FERRIC_BAREMETAL_URL"),
                    help="URL of the Bare Metal API under test "
                         "(or $FERRIC_BAREMETAL_URL)")
    ap.add_argument("-v", "--verbose", action="store_true",
                    help="log every request to stderr")
    args = ap.parse_args(argv)
    if not args.baremetal_url:
        ap.error("--baremetal-url (or $FERRIC_BAREMETAL_URL) is required")

    ThreadingHTTPServer.daemon_threads = True
    ThreadingHTTPServer.allow_reuse_address = True
    httpd = ThreadingHTTPServer((args.host, args.port), Handler)
    port = httpd.server_address[1]
    httpd.state = State(args.baremetal_url,
                        "http://%s:%d" % (args.host, port), args.verbose)

    def _stop(signum, frame):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)

    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    sys.stderr.write("keystone-stub: listening on http://%s:%d/v3, baremetal "
                     "endpoint %s\n" % (args.host, port, args.baremetal_url))
    sys.stderr.flush()
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
