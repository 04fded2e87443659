// @azure/identity ClientSecretCredential and ClientCertificateCredential
// against Portcullis's token service.
import { ClientSecretCredential, ClientCertificateCredential } from "@azure/identity";
import { cfg, clientCert, checkResourceToken, ok, run, assert } from "./common.mjs";

const opts = {
  authorityHost: cfg.base, // Portcullis's public URL instead of login.microsoftonline.com
  disableInstanceDiscovery: true, // Portcullis is not a known Entra cloud
};

await run("identity", async () => {
  const sc = new ClientSecretCredential(cfg.tenant, cfg.clientId, cfg.secret, opts);
  const t1 = await sc.getToken(cfg.scope);
  assert.ok(t1 && t1.token, "a token by secret");
  assert.ok(t1.expiresOnTimestamp > Date.now(), "expiresOnTimestamp in the future");
  checkResourceToken(t1.token, "ClientSecretCredential");
  ok("ClientSecretCredential.getToken: claims as expected");

  const c = clientCert();
  const cc = new ClientCertificateCredential(cfg.tenant, cfg.clientId, { certificate: c.pem }, opts);
  const t2 = await cc.getToken(cfg.scope);
  checkResourceToken(t2.token, "ClientCertificateCredential");
  ok("ClientCertificateCredential (PEM with key) getToken: claims as expected");

  const cx = new ClientCertificateCredential(cfg.tenant, cfg.clientId, { certificatePath: cfg.certPem },
    { ...opts, sendCertificateChain: true });
  const t3 = await cx.getToken(cfg.scope);
  checkResourceToken(t3.token, "ClientCertificateCredential sendCertificateChain");
  ok("ClientCertificateCredential (certificatePath, sendCertificateChain) getToken");

  const bad = new ClientSecretCredential(cfg.tenant, cfg.clientId, "not-the-secret", opts);
  await assert.rejects(bad.getToken(cfg.scope), (e) => {
    assert.equal(e.name, "AuthenticationRequiredError", `error ${e.name}: ${e.message}`);
    assert.match(e.message, /AADSTS7000215|invalid_client/);
    return true;
  });
  ok("a wrong secret is an AuthenticationRequiredError naming invalid_client");
});
