// @azure/keyvault-secrets SecretClient against Portcullis's vault.
import { ClientSecretCredential } from "@azure/identity";
import { SecretClient } from "@azure/keyvault-secrets";
import { cfg, ok, run, assert } from "./common.mjs";

const cred = new ClientSecretCredential(cfg.tenant, cfg.clientId, cfg.secret, {
  authorityHost: cfg.base,
  disableInstanceDiscovery: true,
});

async function exercise(label, client) {
  const name = `${cfg.prefix}-${label}`;
  const s1 = await client.setSecret(name, "value-one", { contentType: "text/plain", tags: { env: "test" } });
  assert.equal(s1.value, "value-one");
  assert.equal(s1.name, name);
  assert.ok(s1.properties.version, "a version");
  const s2 = await client.setSecret(name, "value-two");
  assert.notEqual(s2.properties.version, s1.properties.version);
  ok(`${label}: setSecret twice, two versions`);

  const got = await client.getSecret(name);
  assert.equal(got.value, "value-two");
  const old = await client.getSecret(name, { version: s1.properties.version });
  assert.equal(old.value, "value-one");
  assert.equal(old.properties.contentType, "text/plain");
  assert.deepEqual(old.properties.tags, { env: "test" });
  ok(`${label}: getSecret newest and by version read back what was written`);

  const upd = await client.updateSecretProperties(name, s2.properties.version, { tags: { owner: "node" }, enabled: true });
  assert.deepEqual(upd.tags, { owner: "node" });
  ok(`${label}: updateSecretProperties`);

  const versions = [];
  for await (const p of client.listPropertiesOfSecretVersions(name)) versions.push(p.version);
  assert.deepEqual(versions.sort(), [s1.properties.version, s2.properties.version].sort());
  ok(`${label}: listPropertiesOfSecretVersions lists both versions`);

  // More secrets than one page (the server pages at 25) to follow nextLink.
  const many = [];
  for (let i = 0; i < 27; i++) many.push(client.setSecret(`${name}-p${i}`, `v${i}`));
  await Promise.all(many);
  const names = new Set();
  let pages = 0;
  for await (const page of client.listPropertiesOfSecrets().byPage({ maxPageSize: 10 })) {
    pages++;
    for (const p of page) names.add(p.name);
  }
  for (let i = 0; i < 27; i++) assert.ok(names.has(`${name}-p${i}`), `listing lacks ${name}-p${i}`);
  assert.ok(names.has(name));
  assert.ok(pages >= 3, `expected at least 3 pages of 10, got ${pages}`);
  ok(`${label}: listPropertiesOfSecrets follows nextLink over ${pages} pages`);

  const backup = await client.backupSecret(name);
  assert.ok(backup && backup.length > 0, "a backup blob");
  ok(`${label}: backupSecret`);

  const del = await client.beginDeleteSecret(name);
  const deleted = await del.pollUntilDone();
  assert.equal(deleted.name, name);
  assert.ok(deleted.recoveryId, "recoveryId");
  const ds = await client.getDeletedSecret(name);
  assert.equal(ds.name, name);
  let found = false;
  for await (const d of client.listDeletedSecrets()) if (d.name === name) found = true;
  assert.ok(found, "listDeletedSecrets lists the deleted secret");
  ok(`${label}: beginDeleteSecret, getDeletedSecret, listDeletedSecrets`);

  const rec = await client.beginRecoverDeletedSecret(name);
  await rec.pollUntilDone();
  assert.equal((await client.getSecret(name)).value, "value-two");
  ok(`${label}: beginRecoverDeletedSecret restores the value`);

  await (await client.beginDeleteSecret(name)).pollUntilDone();
  await client.purgeDeletedSecret(name);
  await assert.rejects(client.getDeletedSecret(name), (e) => e.statusCode === 404);
  await assert.rejects(client.getSecret(name), (e) => {
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, "SecretNotFound");
    return true;
  });
  ok(`${label}: purgeDeletedSecret; a missing secret is 404 SecretNotFound`);

  const restored = await client.restoreSecretBackup(backup);
  assert.equal(restored.name, name);
  assert.equal((await client.getSecret(name)).value, "value-two");
  ok(`${label}: restoreSecretBackup brings back the value`);

  await (await client.beginDeleteSecret(name)).pollUntilDone();
  await client.purgeDeletedSecret(name);
}

await run("keyvault-secrets", async () => {
  if (cfg.vaultURL) {
    // Host form: the client's default challenge resource verification passes.
    await exercise("host", new SecretClient(cfg.vaultURL, cred));
  }
  if (cfg.vaultPathURL) {
    // Path form: the vault host is not a subdomain of the challenge resource.
    await exercise("path", new SecretClient(cfg.vaultPathURL, cred, { disableChallengeResourceVerification: true }));
  }
});
