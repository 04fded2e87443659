// @azure/keyvault-certificates CertificateClient against Portcullis, and the
// certificate's private key downloaded with SecretClient.
import { readFileSync } from "node:fs";
import { X509Certificate, createPrivateKey, createPublicKey, createSign, createVerify } from "node:crypto";
import { ClientSecretCredential } from "@azure/identity";
import { CertificateClient, WellKnownIssuer } from "@azure/keyvault-certificates";
import { SecretClient } from "@azure/keyvault-secrets";
import { cfg, ok, run, assert } from "./common.mjs";

const cred = new ClientSecretCredential(cfg.tenant, cfg.clientId, cfg.secret, {
  authorityHost: cfg.base,
  disableInstanceDiscovery: true,
});

async function exercise(label, client, secrets) {
  const name = `${cfg.prefix}-${label}-cert`;
  const subject = `CN=${name}.example.com`;
  const policy = {
    issuerName: WellKnownIssuer.Self,
    subject,
    subjectAlternativeNames: { dnsNames: [`${name}.example.com`] },
    contentType: "application/x-pem-file",
    keyType: "RSA",
    keySize: 2048,
    validityInMonths: 12,
    exportable: true,
  };
  const poller = await client.beginCreateCertificate(name, policy, { intervalInMs: 200 });
  const created = await poller.pollUntilDone();
  assert.equal(created.name, name);
  assert.ok(created.cer && created.cer.length > 0, "the created certificate has its DER");
  const x = new X509Certificate(Buffer.from(created.cer));
  assert.equal(x.subject, subject.replace(/^CN=/, "CN="));
  assert.match(x.subjectAltName, new RegExp(`DNS:${name}.example.com`));
  ok(`${label}: beginCreateCertificate (Self) completes; subject and SAN as asked`);

  const got = await client.getCertificate(name);
  assert.deepEqual(Buffer.from(got.cer), Buffer.from(created.cer));
  assert.equal(got.policy.subject, subject);
  assert.equal(got.policy.issuerName, "Self");
  const op = await client.getCertificateOperation(name);
  assert.equal(op.getOperationState().isCompleted, true);
  ok(`${label}: getCertificate (with policy) and getCertificateOperation agree`);

  // The private key is the certificate's secret, here PEM.
  const sec = await secrets.getSecret(name);
  assert.equal(sec.properties.contentType, "application/x-pem-file");
  const key = createPrivateKey(sec.value);
  const certPem = sec.value.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)[0];
  assert.ok(new X509Certificate(certPem).checkPrivateKey(key), "the downloaded key belongs to the certificate");
  const sig = createSign("sha256").update("hello").sign(key);
  assert.ok(createVerify("sha256").update("hello").verify(createPublicKey(x.publicKey.export({ type: "spki", format: "pem" })), sig));
  ok(`${label}: the certificate's secret (PEM) holds the matching private key`);

  // Import a PEM certificate with its key (the client's own, from the test).
  const impName = `${name}-imported`;
  const pem = readFileSync(cfg.certPem, "utf8");
  const imported = await client.importCertificate(impName, Buffer.from(pem), { policy: { contentType: "application/x-pem-file" } });
  const impX = new X509Certificate(Buffer.from(imported.cer));
  const fileX = new X509Certificate(pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)[0]);
  assert.equal(impX.fingerprint256, fileX.fingerprint256);
  assert.equal(Buffer.from(imported.properties.x509Thumbprint).toString("hex").toUpperCase(), fileX.fingerprint.replaceAll(":", ""));
  ok(`${label}: importCertificate (PEM): same certificate, x509Thumbprint is its SHA-1`);

  const names = [];
  for await (const p of client.listPropertiesOfCertificates()) names.push(p.name);
  assert.ok(names.includes(name) && names.includes(impName), `listing lacks ours: ${names}`);
  const versions = [];
  for await (const p of client.listPropertiesOfCertificateVersions(name)) versions.push(p.version);
  assert.deepEqual(versions, [created.properties.version]);
  ok(`${label}: listPropertiesOfCertificates and ...Versions`);

  const upd = await client.updateCertificateProperties(name, "", { tags: { team: "node" } });
  assert.deepEqual(upd.properties.tags, { team: "node" });
  // This SDK version's updateCertificatePolicy returns an empty policy
  // whatever the server answers (it discards the response body): read it back.
  await client.updateCertificatePolicy(name, { ...got.policy, validityInMonths: 6 });
  const pol = await client.getCertificatePolicy(name);
  assert.equal(pol.validityInMonths, 6);
  assert.equal(pol.subject, subject);
  ok(`${label}: updateCertificateProperties and updateCertificatePolicy`);

  const backup = await client.backupCertificate(name);
  for (const n of [name, impName]) {
    const d = await client.beginDeleteCertificate(n, { intervalInMs: 200 });
    await d.pollUntilDone();
  }
  const deleted = await client.getDeletedCertificate(name);
  assert.equal(deleted.name, name);
  const rec = await client.beginRecoverDeletedCertificate(name, { intervalInMs: 200 });
  await rec.pollUntilDone();
  assert.deepEqual(Buffer.from((await client.getCertificate(name)).cer), Buffer.from(created.cer));
  ok(`${label}: beginDeleteCertificate, getDeletedCertificate, beginRecoverDeletedCertificate`);

  await (await client.beginDeleteCertificate(name, { intervalInMs: 200 })).pollUntilDone();
  for (const n of [name, impName]) await client.purgeDeletedCertificate(n);
  await assert.rejects(client.getCertificate(name), (e) => e.statusCode === 404 && e.code === "CertificateNotFound");
  const restored = await client.restoreCertificateBackup(backup);
  assert.equal(restored.name, name);
  assert.deepEqual(Buffer.from(restored.cer), Buffer.from(created.cer));
  ok(`${label}: purgeDeletedCertificate, restoreCertificateBackup`);
  await (await client.beginDeleteCertificate(name, { intervalInMs: 200 })).pollUntilDone();
  await client.purgeDeletedCertificate(name);

  // A CSR for a CA outside the vault (issuer Unknown): the certificate
  // exists, disabled and without CER, until merged; the operation poller
  // (which reads the certificate first) gives the CSR, and cancels.
  const csrName = `${name}-csr`;
  await client.beginCreateCertificate(csrName, { issuerName: "Unknown", subject: `CN=${csrName}.example.com` });
  const pending = await client.getCertificate(csrName);
  assert.equal(pending.properties.enabled, false);
  assert.equal(pending.cer, undefined);
  assert.equal(pending.policy.issuerName, "Unknown");
  const listedNames = async (options) => {
    const names = [];
    for await (const p of client.listPropertiesOfCertificates(options)) names.push(p.name);
    return names;
  };
  assert.ok(!(await listedNames()).includes(csrName), "a pending certificate is listed only with includePending");
  assert.ok((await listedNames({ includePending: true })).includes(csrName), "includePending lists the pending certificate");
  const opPoller = await client.getCertificateOperation(csrName);
  const opState = opPoller.getOperationState();
  assert.equal(opState.certificateOperation.status, "inProgress");
  assert.ok(opState.certificateOperation.csr && opState.certificateOperation.csr.length > 100, "a CSR");
  await opPoller.cancelOperation();
  assert.equal(opPoller.getOperationState().certificateOperation.status, "cancelled");
  const removed = await client.deleteCertificateOperation(csrName);
  assert.equal(removed.status, "cancelled");
  await assert.rejects(client.getCertificate(csrName), (e) => e.statusCode === 404);
  ok(`${label}: issuer Unknown: pending certificate (disabled, no cer, listed with includePending), getCertificateOperation's CSR, cancel, deleteCertificateOperation`);
}

await run("keyvault-certificates", async () => {
  if (cfg.vaultURL) await exercise("host", new CertificateClient(cfg.vaultURL, cred), new SecretClient(cfg.vaultURL, cred));
  if (cfg.vaultPathURL) {
    const o = { disableChallengeResourceVerification: true };
    await exercise("path", new CertificateClient(cfg.vaultPathURL, cred, o), new SecretClient(cfg.vaultPathURL, cred, o));
  }
});
