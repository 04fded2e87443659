// Shared helpers for the interop scripts: configuration from the environment
// (set by internal/interop's Go test, or by hand, see README.md) and checks.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";

export function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is not set (see README.md in this folder)`);
  return v;
}

export const cfg = {
  base: env("PORTCULLIS_BASE"), // public URL, e.g. https://localhost:8443
  tenant: env("PORTCULLIS_TENANT"), // tenant id
  clientId: env("PORTCULLIS_CLIENT_ID"),
  secret: env("PORTCULLIS_CLIENT_SECRET"),
  certPem: env("PORTCULLIS_CLIENT_CERT_PEM"), // file: certificate + private key, PEM
  scope: env("PORTCULLIS_SCOPE"), // e.g. api://orders/.default
  resourceAppId: env("PORTCULLIS_RESOURCE_APP_ID"),
  role: env("PORTCULLIS_ROLE"),
  vaultURL: process.env.PORTCULLIS_VAULT_URL || "", // host form, e.g. https://default.localhost:8443
  vaultPathURL: process.env.PORTCULLIS_VAULT_PATH_URL || "", // path form
  prefix: process.env.PORTCULLIS_PREFIX || `node${process.pid}`,
};

// The certificate and private key of the client, as the Microsoft clients
// want them.
export function clientCert() {
  const pem = readFileSync(cfg.certPem, "utf8");
  const certMatch = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/);
  const keyMatch = pem.match(/-----BEGIN (?:RSA |EC )?PRIVATE KEY-----[\s\S]+?-----END (?:RSA |EC )?PRIVATE KEY-----/);
  assert.ok(certMatch, `${cfg.certPem} holds no certificate`);
  assert.ok(keyMatch, `${cfg.certPem} holds no private key`);
  const x = new X509Certificate(certMatch[0]);
  return {
    pem,
    certificate: certMatch[0],
    privateKey: keyMatch[0],
    thumbprintSha256: x.fingerprint256.replaceAll(":", ""),
    thumbprint: x.fingerprint.replaceAll(":", ""),
  };
}

// Decodes (does not verify) a JWT's claims.
export function claims(jwt) {
  const parts = jwt.split(".");
  assert.equal(parts.length, 3, "an access token is a JWS in compact form");
  return JSON.parse(Buffer.from(parts[1], "base64url").toString("utf8"));
}

// Checks the claims of an access token for the test's resource.
export function checkResourceToken(jwt, what) {
  const c = claims(jwt);
  assert.equal(c.iss, `${cfg.base}/${cfg.tenant}/v2.0`, `${what}: iss`);
  assert.equal(c.aud, cfg.resourceAppId, `${what}: aud`);
  assert.equal(c.azp, cfg.clientId, `${what}: azp`);
  assert.equal(c.tid, cfg.tenant, `${what}: tid`);
  assert.ok(Array.isArray(c.roles) && c.roles.includes(cfg.role), `${what}: roles ${JSON.stringify(c.roles)} lack ${cfg.role}`);
  assert.ok(c.exp > Date.now() / 1000, `${what}: exp in the past`);
  return c;
}

let checks = 0;
export function ok(msg) {
  checks++;
  console.log(`ok ${checks} - ${msg}`);
}

// Runs main and exits non-zero with the error on failure.
export async function run(name, main) {
  try {
    await main();
    console.log(`${name}: ${checks} checks passed`);
  } catch (e) {
    console.error(`${name}: FAILED after ${checks} checks:`, e);
    if (e && e.details) console.error("details:", JSON.stringify(e.details));
    process.exit(1);
  }
}
export { assert };
