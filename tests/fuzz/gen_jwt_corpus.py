#!/usr/bin/python3
"""Writes the seed corpus of fuzz_jwt: tokens signed with the driver's secret (valid, expired,
not yet valid, wrong audience), alg none, a key-confusion attempt, malformed shapes, a JWKS."""
import base64, hashlib, hmac, json, os, sys

SECRET = b"fuzz-secret-0123456789abcdef0123456789"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_jwt")


def b64(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def tok(header, claims, key=SECRET):
    h = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    sig = b64(hmac.new(key, h.encode(), hashlib.sha256).digest()) if key else ""
    return h + "." + sig


def main():
    os.makedirs(OUT, exist_ok=True)
    hs = {"alg": "HS256", "typ": "JWT"}
    base = {"sub": "alice", "role": "admin", "use": "access", "aud": "streambus", "exp": 1800000100, "iat": 1799999000}
    seeds = {
        "valid": tok(hs, base),
        "valid_aud_list": tok(hs, dict(base, aud=["x", "streambus"])),
        "expired": tok(hs, dict(base, exp=1799990000)),
        "nbf_future": tok(hs, dict(base, nbf=1800005000)),
        "wrong_aud": tok(hs, dict(base, aud="kafka")),
        "alg_none": tok({"alg": "none"}, base, key=None),
        "rs256_header": tok({"alg": "RS256"}, base),
        "kid": tok(dict(hs, kid="k1"), base),
        "crit": tok(dict(hs, crit=["b64"]), base),
        "no_exp": tok(hs, {"sub": "a"}),
        "float_exp": tok(hs, dict(base, exp=1.5e9)),
        "two_parts": "eyJhbGciOiJIUzI1NiJ9.e30",
        "garbage": "!!!.@@@.###",
        "jwks": json.dumps({"keys": [{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA"},
                                     {"kty": "RSA", "n": "sXch", "e": "AQAB"}]}),
        "pem": "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----\n",
    }
    for name, text in seeds.items():
        with open(os.path.join(OUT, name), "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
