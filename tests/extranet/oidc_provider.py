"""A small OpenID Connect provider, run as its own process by tests/extranet/test_sso.py.

    python tests/extranet/oidc_provider.py CLIENT_ID CLIENT_SECRET

It listens on 127.0.0.1 (a free port), prints ``LISTENING <port>`` on
standard output, and serves until standard input closes or it is terminated.
It is small but honest: discovery, JWKS, an authorization endpoint that signs
in its one test user at once, and a token endpoint that checks the client's
secret, the redirect URI and the PKCE verifier and returns an RS256-signed ID
token with the nonce it was given.

``/_test/state`` (loopback only, this test tool only) lets the test change the
signed-in user's claims, claims to tamper with, or the signing key, and read
how many token requests came in.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import sys
import threading
import time
from urllib.parse import urlencode

from flask import Flask, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey
from werkzeug.serving import make_server


class Provider:
    def __init__(self, client_id: str, client_secret: str):
        self.key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        self.sign_key = self.key
        self.client_id = client_id
        self.client_secret = client_secret
        self.claims: dict = {"sub": "u-1", "email": "buyer@acme.example", "email_verified": True}
        self.tamper: dict = {}
        self.codes: dict[str, dict] = {}
        self.token_requests = 0
        self.lock = threading.Lock()
        self.issuer = ""
        app = Flask("test-oidc-provider")
        app.add_url_rule("/.well-known/openid-configuration", view_func=self.discovery)
        app.add_url_rule("/jwks", view_func=self.jwks)
        app.add_url_rule("/authorize", view_func=self.authorize)
        app.add_url_rule("/token", view_func=self.token, methods=["POST"])
        app.add_url_rule("/_test/state", view_func=self.state, methods=["GET", "POST"])
        self.app = app

    def discovery(self):
        return jsonify({
            "issuer": self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        })

    def jwks(self):
        return jsonify({"keys": [self.key.as_dict(private=False) | {"use": "sig", "alg": "RS256"}]})

    def authorize(self):
        args = request.args
        if args.get("client_id") != self.client_id or args.get("response_type") != "code":
            return "unknown client", 400
        if "openid" not in args.get("scope", "").split() or args.get("code_challenge_method") != "S256":
            return "openid scope and PKCE required", 400
        code = secrets.token_urlsafe(16)
        with self.lock:
            self.codes[code] = {"redirect_uri": args["redirect_uri"], "nonce": args.get("nonce"),
                                "challenge": args["code_challenge"], "claims": dict(self.claims)}
        return redirect(f"{args['redirect_uri']}?{urlencode({'code': code, 'state': args['state']})}")

    def token(self):
        with self.lock:
            self.token_requests += 1
            auth = request.authorization
            if auth is None or auth.username != self.client_id or auth.password != self.client_secret:
                return jsonify(error="invalid_client"), 401
            grant = self.codes.pop(request.form.get("code", ""), None)
            tamper, sign_key = dict(self.tamper), self.sign_key
        if grant is None or request.form.get("grant_type") != "authorization_code":
            return jsonify(error="invalid_grant"), 400
        if request.form.get("redirect_uri") != grant["redirect_uri"]:
            return jsonify(error="invalid_grant", error_description="redirect_uri"), 400
        verifier = request.form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if challenge != grant["challenge"]:
            return jsonify(error="invalid_grant", error_description="PKCE"), 400
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": self.client_id, "iat": now, "exp": now + 300,
                  "nonce": grant["nonce"], **grant["claims"], **tamper}
        id_token = jwt.encode({"alg": "RS256", "kid": "test-key"}, claims, sign_key)
        return jsonify(access_token=secrets.token_urlsafe(16), token_type="Bearer", expires_in=300,
                       id_token=id_token)

    def state(self):
        if request.remote_addr != "127.0.0.1":
            return "loopback only", 403
        if request.method == "POST":
            change = request.get_json()
            with self.lock:
                if "claims" in change:
                    self.claims = dict(change["claims"])
                if "tamper" in change:
                    self.tamper = dict(change["tamper"])
                if change.get("foreign_key"):  # sign with a key that is not in the JWKS
                    self.sign_key = RSAKey.generate_key(2048, parameters={"kid": "test-key"})
        with self.lock:
            return jsonify(claims=self.claims, tamper=self.tamper, token_requests=self.token_requests,
                           foreign_key=self.sign_key is not self.key)


def main() -> None:
    client_id, client_secret = sys.argv[1], sys.argv[2]
    provider = Provider(client_id, client_secret)
    server = make_server("127.0.0.1", 0, provider.app, threaded=True)
    provider.issuer = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(f"LISTENING {server.server_port}", flush=True)
    sys.stdin.read()  # the test closes our standard input to stop us
    server.shutdown()


if __name__ == "__main__":
    main()
