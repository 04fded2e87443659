"""Shared helpers for the Python interop scripts: configuration from the
environment (set by internal/interop's Go test) and checks."""
import base64
import json
import os
import sys
import time


def env(name):
    v = os.environ.get(name)
    if not v:
        raise SystemExit(f"environment variable {name} is not set (see README.md in this folder)")
    return v


class Cfg:
    def __init__(self):
        self.base = env("PORTCULLIS_BASE")
        self.tenant = env("PORTCULLIS_TENANT")
        self.client_id = env("PORTCULLIS_CLIENT_ID")
        self.secret = env("PORTCULLIS_CLIENT_SECRET")
        self.cert_pem = env("PORTCULLIS_CLIENT_CERT_PEM")
        self.scope = env("PORTCULLIS_SCOPE")
        self.resource_app_id = env("PORTCULLIS_RESOURCE_APP_ID")
        self.role = env("PORTCULLIS_ROLE")
        self.vault_url = os.environ.get("PORTCULLIS_VAULT_URL", "")
        self.vault_path_url = os.environ.get("PORTCULLIS_VAULT_PATH_URL", "")
        self.prefix = os.environ.get("PORTCULLIS_PREFIX", f"py{os.getpid()}")


cfg = Cfg()


def client_cert():
    """The client's certificate (PEM), private key (PEM) and thumbprints."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    pem = open(cfg.cert_pem, "rb").read()
    cert = x509.load_pem_x509_certificate(pem)
    start = pem.index(b"-----BEGIN CERTIFICATE-----")
    end = pem.index(b"-----END CERTIFICATE-----") + len(b"-----END CERTIFICATE-----")
    key_start = pem.index(b"-----BEGIN", end)
    return {
        "pem": pem,
        "certificate": pem[start:end].decode(),
        "private_key": pem[key_start:].decode(),
        "sha1": cert.fingerprint(hashes.SHA1()).hex().upper(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex().upper(),
        "x509": cert,
    }


def claims(jwt):
    parts = jwt.split(".")
    assert len(parts) == 3, "an access token is a JWS in compact form"
    pad = "=" * (-len(parts[1]) % 4)
    return json.loads(base64.urlsafe_b64decode(parts[1] + pad))


def check_resource_token(jwt, what):
    c = claims(jwt)
    assert c["iss"] == f"{cfg.base}/{cfg.tenant}/v2.0", f"{what}: iss {c['iss']}"
    assert c["aud"] == cfg.resource_app_id, f"{what}: aud {c['aud']}"
    assert c["azp"] == cfg.client_id, f"{what}: azp {c['azp']}"
    assert c["tid"] == cfg.tenant, f"{what}: tid {c['tid']}"
    assert cfg.role in c.get("roles", []), f"{what}: roles {c.get('roles')} lack {cfg.role}"
    assert c["exp"] > time.time(), f"{what}: exp in the past"
    return c


_checks = 0


def ok(msg):
    global _checks
    _checks += 1
    print(f"ok {_checks} - {msg}", flush=True)


def run(name, main):
    try:
        main()
    except BaseException as e:  # noqa: BLE001 - report every failure the same way
        import traceback
        traceback.print_exc()
        print(f"{name}: FAILED after {_checks} checks: {e!r}", file=sys.stderr)
        sys.exit(1)
    print(f"{name}: {_checks} checks passed")
