"""msal (Python) ConfidentialClientApplication against Portcullis's token
service: client credentials by secret and by certificate."""
import msal

from common import cfg, check_resource_token, client_cert, ok, run


def app(credential):
    return msal.ConfidentialClientApplication(
        cfg.client_id,
        authority=f"{cfg.base}/{cfg.tenant}",
        client_credential=credential,
        # Portcullis is not a known Entra cloud: no instance discovery
        # (a call to login.microsoftonline.com).
        instance_discovery=False,
    )


def main():
    r = app(cfg.secret).acquire_token_for_client(scopes=[cfg.scope])
    assert "access_token" in r, f"no token by secret: {r}"
    assert r["token_type"] == "Bearer", r["token_type"]
    check_resource_token(r["access_token"], "msal secret")
    ok("acquire_token_for_client with a secret: claims as expected")

    c = client_cert()
    r = app({"private_key": c["private_key"], "thumbprint": c["sha1"], "public_certificate": c["certificate"]}) \
        .acquire_token_for_client(scopes=[cfg.scope])
    assert "access_token" in r, f"no token by certificate: {r}"
    check_resource_token(r["access_token"], "msal certificate")
    ok("acquire_token_for_client with a certificate (thumbprint, x5c): claims as expected")

    r = app("not-the-secret").acquire_token_for_client(scopes=[cfg.scope])
    assert r.get("error") == "invalid_client", r
    assert 7000215 in r.get("error_codes", []), r
    ok("a wrong secret is invalid_client with error_codes [7000215]")


run("msal (Python)", main)
