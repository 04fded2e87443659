// @azure/keyvault-keys KeyClient and CryptographyClient against Portcullis.
import { createHash, createPublicKey, createVerify, publicEncrypt, constants, randomBytes } from "node:crypto";
import { ClientSecretCredential } from "@azure/identity";
import { KeyClient, CryptographyClient } from "@azure/keyvault-keys";
import { cfg, ok, run, assert } from "./common.mjs";

const cred = new ClientSecretCredential(cfg.tenant, cfg.clientId, cfg.secret, {
  authorityHost: cfg.base,
  disableInstanceDiscovery: true,
});

// A JsonWebKey from the SDK (Uint8Array members) as a Node public key.
function publicKeyOf(jwk) {
  const b64 = (u) => Buffer.from(u).toString("base64url");
  if (jwk.kty.startsWith("RSA")) return createPublicKey({ key: { kty: "RSA", n: b64(jwk.n), e: b64(jwk.e) }, format: "jwk" });
  return createPublicKey({ key: { kty: "EC", crv: jwk.crv, x: b64(jwk.x), y: b64(jwk.y) }, format: "jwk" });
}

async function exercise(label, client, clientOptions) {
  const name = `${cfg.prefix}-${label}-rsa`;
  const key = await client.createRsaKey(name, { keySize: 2048, keyOps: ["sign", "verify", "encrypt", "decrypt", "wrapKey", "unwrapKey"] });
  assert.equal(key.name, name);
  assert.equal(key.keyType, "RSA");
  assert.ok(key.key.n && key.key.n.length === 256, "a 2048-bit modulus");
  const got = await client.getKey(name);
  assert.equal(got.properties.version, key.properties.version);
  assert.deepEqual(Buffer.from(got.key.n), Buffer.from(key.key.n));
  ok(`${label}: createRsaKey and getKey agree`);

  const crypto = new CryptographyClient(key.id, cred, clientOptions);
  const msg = Buffer.from(`message for ${name}`);
  const digest = createHash("sha256").update(msg).digest();
  const sig = await crypto.sign("RS256", digest);
  assert.equal(sig.result.length, 256);
  // The signature verifies locally with the public key, not only in the vault.
  const v = createVerify("sha256").update(msg);
  assert.ok(v.verify(publicKeyOf(key.key), Buffer.from(sig.result)), "RS256 signature verifies with node:crypto");
  const ver = await crypto.verify("RS256", digest, sig.result);
  assert.equal(ver.result, true);
  const bad = await crypto.verify("RS256", createHash("sha256").update("other").digest(), sig.result);
  assert.equal(bad.result, false);
  ok(`${label}: sign RS256; the signature verifies locally and in the vault, a wrong digest does not`);

  const ps = await crypto.signData("PS256", msg);
  // verifyData would check PS256 locally with the fetched public key, and this
  // SDK version checks it with PKCS#1 v1.5 padding (always false for PSS), a
  // client bug whatever the server: verify PSS with node:crypto and in the vault.
  const pv = createVerify("sha256").update(msg);
  assert.ok(pv.verify({ key: publicKeyOf(key.key), padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 }, Buffer.from(ps.result)),
    "PS256 signature verifies with node:crypto (PSS, salt = hash length)");
  assert.equal((await crypto.verify("PS256", digest, ps.result)).result, true);
  ok(`${label}: signData PS256 verifies locally (PSS) and in the vault`);

  const plain = Buffer.from("plaintext to encrypt");
  const enc = await crypto.encrypt({ algorithm: "RSA-OAEP-256", plaintext: plain });
  const dec = await crypto.decrypt({ algorithm: "RSA-OAEP-256", ciphertext: enc.result });
  assert.deepEqual(Buffer.from(dec.result), plain);
  // Encrypted locally with the public key, decrypted by the vault.
  const local = publicEncrypt({ key: publicKeyOf(key.key), padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" }, plain);
  const dec2 = await crypto.decrypt({ algorithm: "RSA-OAEP", ciphertext: local });
  assert.deepEqual(Buffer.from(dec2.result), plain);
  ok(`${label}: encrypt/decrypt RSA-OAEP-256, and a locally RSA-OAEP-encrypted message decrypts`);

  const cek = randomBytes(32);
  const wrapped = await crypto.wrapKey("RSA-OAEP", cek);
  const unwrapped = await crypto.unwrapKey("RSA-OAEP", wrapped.result);
  assert.deepEqual(Buffer.from(unwrapped.result), cek);
  ok(`${label}: wrapKey/unwrapKey RSA-OAEP round trip`);

  const ec = await client.createEcKey(`${cfg.prefix}-${label}-ec`, { curve: "P-256" });
  assert.equal(ec.key.crv, "P-256");
  const ecc = new CryptographyClient(ec, cred, clientOptions);
  const esig = await ecc.signData("ES256", msg);
  assert.equal(esig.result.length, 64, "ES256 signature is r||s, 64 bytes");
  const ev = createVerify("sha256").update(msg);
  assert.ok(ev.verify({ key: publicKeyOf(ec.key), dsaEncoding: "ieee-p1363" }, Buffer.from(esig.result)), "ES256 verifies with node:crypto");
  ok(`${label}: createEcKey P-256, signData ES256 verifies locally`);

  const names = [];
  for await (const p of client.listPropertiesOfKeys()) names.push(p.name);
  assert.ok(names.includes(name) && names.includes(`${cfg.prefix}-${label}-ec`), "listPropertiesOfKeys lists both keys");
  const rotated = await client.rotateKey(name);
  assert.notEqual(rotated.properties.version, key.properties.version);
  const versions = [];
  for await (const p of client.listPropertiesOfKeyVersions(name)) versions.push(p.version);
  assert.equal(versions.length, 2);
  ok(`${label}: listPropertiesOfKeys, rotateKey, listPropertiesOfKeyVersions`);

  const backup = await client.backupKey(name);
  for (const n of [name, `${cfg.prefix}-${label}-ec`]) {
    await (await client.beginDeleteKey(n)).pollUntilDone();
    await client.purgeDeletedKey(n);
  }
  await assert.rejects(client.getKey(name), (e) => e.statusCode === 404 && e.code === "KeyNotFound");
  const restored = await client.restoreKeyBackup(backup);
  assert.equal(restored.name, name);
  assert.deepEqual(Buffer.from(restored.key.n), Buffer.from(rotated.key.n));
  ok(`${label}: backupKey, delete, purge, restoreKeyBackup`);
  await (await client.beginDeleteKey(name)).pollUntilDone();
  await client.purgeDeletedKey(name);

  const rnd = await client.getRandomBytes(32);
  assert.equal(rnd.length, 32);
  ok(`${label}: getRandomBytes`);
}

await run("keyvault-keys", async () => {
  if (cfg.vaultURL) await exercise("host", new KeyClient(cfg.vaultURL, cred), {});
  if (cfg.vaultPathURL) {
    const o = { disableChallengeResourceVerification: true };
    await exercise("path", new KeyClient(cfg.vaultPathURL, cred, o), o);
  }
});
