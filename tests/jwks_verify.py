#!/usr/bin/env python3
"""Verifies a latchkey access token independently of latchkey's own code.

Usage: jwks_verify.py JWKS_URL TOKEN

Fetches the JWK Set from JWKS_URL, picks the key named by the token's `kid`,
verifies the token with PyJWT (EdDSA only; `aud` and `iss` must be
"latchkey"; `exp`, `nbf` and `iat` are checked) and prints its claims as
JSON. Exits non-zero, with the reason on stderr, if anything fails.

Needs PyJWT with its crypto extra: pip install 'pyjwt[crypto]'.
"""

import json
import sys

import jwt
from jwt import PyJWKClient

ISSUER = "latchkey"
AUDIENCE = "latchkey"
REQUIRED_CLAIMS = ["iss", "sub", "aud", "iat", "nbf", "exp", "jti"]


def main(argv):
    if len(argv) != 3:
        print(f"usage: {argv[0]} JWKS_URL TOKEN", file=sys.stderr)
        return 2
    jwks_url, token = argv[1], argv[2]
    try:
        # No cache: the test wants the keys as served right now.
        client = PyJWKClient(jwks_url, cache_jwk_set=False, cache_keys=False)
        signing_key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(
            token,
            signing_key.key,
            algorithms=["EdDSA"],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"require": REQUIRED_CLAIMS},
        )
    except (jwt.PyJWTError, OSError, ValueError) as e:
        print(f"verification failed: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    print(json.dumps(claims, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
