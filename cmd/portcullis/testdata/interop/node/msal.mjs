// @azure/msal-node ConfidentialClientApplication against Portcullis's token
// service: client credentials by secret and by certificate.
import { ConfidentialClientApplication, LogLevel } from "@azure/msal-node";
import { cfg, clientCert, checkResourceToken, ok, run, assert } from "./common.mjs";

const host = new URL(cfg.base).host;
const authority = `${cfg.base}/${cfg.tenant}`;

function app(credential) {
  return new ConfidentialClientApplication({
    auth: {
      clientId: cfg.clientId,
      authority,
      // Portcullis is no Microsoft cloud: name it a known authority so that
      // MSAL skips instance discovery (a call to login.microsoftonline.com).
      knownAuthorities: [host],
      ...credential,
    },
    system: {
      loggerOptions: {
        logLevel: LogLevel.Warning,
        piiLoggingEnabled: false,
        loggerCallback: (_l, m) => console.error("msal:", m),
      },
    },
  });
}

await run("msal-node", async () => {
  const bySecret = app({ clientSecret: cfg.secret });
  const r1 = await bySecret.acquireTokenByClientCredential({ scopes: [cfg.scope] });
  assert.ok(r1 && r1.accessToken, "a token by secret");
  assert.equal(r1.tokenType, "Bearer");
  checkResourceToken(r1.accessToken, "msal-node secret");
  ok("acquireTokenByClientCredential with clientSecret: claims as expected");

  const cached = await bySecret.acquireTokenByClientCredential({ scopes: [cfg.scope] });
  assert.equal(cached.accessToken, r1.accessToken, "second call is served from MSAL's cache");
  assert.equal(cached.fromCache, true);
  ok("second call served from the token cache");

  const c = clientCert();
  const byCert = app({
    clientCertificate: { thumbprintSha256: c.thumbprintSha256, privateKey: c.privateKey, x5c: c.certificate },
  });
  const r2 = await byCert.acquireTokenByClientCredential({ scopes: [cfg.scope] });
  checkResourceToken(r2.accessToken, "msal-node certificate (PS256, x5t#S256)");
  ok("acquireTokenByClientCredential with clientCertificate thumbprintSha256 + x5c");

  const bySha1 = app({ clientCertificate: { thumbprint: c.thumbprint, privateKey: c.privateKey } });
  const r3 = await bySha1.acquireTokenByClientCredential({ scopes: [cfg.scope] });
  checkResourceToken(r3.accessToken, "msal-node certificate (RS256, x5t)");
  ok("acquireTokenByClientCredential with clientCertificate thumbprint (SHA-1)");

  // A wrong secret is an error MSAL reports with Entra's error code.
  const bad = app({ clientSecret: "not-the-secret" });
  await assert.rejects(bad.acquireTokenByClientCredential({ scopes: [cfg.scope] }), (e) => {
    assert.equal(e.errorCode, "invalid_client", `errorCode ${e.errorCode}: ${e.errorMessage}`);
    assert.match(e.errorMessage, /AADSTS7000215/);
    return true;
  });
  ok("a wrong secret is invalid_client AADSTS7000215");
});
