"""azure.identity credentials and azure.keyvault.{secrets,keys,certificates}
clients (the Azure SDK for Python as Debian ships it) against Portcullis."""
import hashlib
import os

from azure.core.exceptions import ResourceNotFoundError
from azure.identity import CertificateCredential, ClientSecretCredential
from azure.keyvault.certificates import CertificateClient, CertificatePolicy
from azure.keyvault.keys import KeyClient
from azure.keyvault.keys.crypto import CryptographyClient, EncryptionAlgorithm, KeyWrapAlgorithm, SignatureAlgorithm
from azure.keyvault.secrets import SecretClient
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from common import cfg, check_resource_token, client_cert, ok, run

# Portcullis is not a known Entra cloud: its public URL is the authority and
# instance discovery is off. This azure-identity version (Debian's 1.13.0b2)
# calls the option instance_discovery=False; released versions call it
# disable_instance_discovery=True.
CRED_OPTS = {"authority": cfg.base, "instance_discovery": False}


def credentials():
    sc = ClientSecretCredential(cfg.tenant, cfg.client_id, cfg.secret, **CRED_OPTS)
    t = sc.get_token(cfg.scope)
    check_resource_token(t.token, "ClientSecretCredential")
    ok("ClientSecretCredential.get_token: claims as expected")

    cc = CertificateCredential(cfg.tenant, cfg.client_id, certificate_path=cfg.cert_pem, **CRED_OPTS)
    t = cc.get_token(cfg.scope)
    check_resource_token(t.token, "CertificateCredential")
    ok("CertificateCredential (PEM file) get_token: claims as expected")

    cx = CertificateCredential(cfg.tenant, cfg.client_id, certificate_data=client_cert()["pem"],
                                     send_certificate_chain=True, **CRED_OPTS)
    check_resource_token(cx.get_token(cfg.scope).token, "CertificateCredential send_certificate_chain")
    ok("CertificateCredential (certificate_data, send_certificate_chain) get_token")
    return sc


def secrets(label, client):
    name = f"{cfg.prefix}-{label}-sec"
    s1 = client.set_secret(name, "value-one", content_type="text/plain", tags={"env": "test"})
    s2 = client.set_secret(name, "value-two")
    assert s1.properties.version != s2.properties.version
    assert client.get_secret(name).value == "value-two"
    old = client.get_secret(name, s1.properties.version)
    assert old.value == "value-one" and old.properties.content_type == "text/plain"
    assert old.properties.tags == {"env": "test"}
    ok(f"{label}: set_secret twice, get_secret newest and by version")

    versions = sorted(p.version for p in client.list_properties_of_secret_versions(name))
    assert versions == sorted([s1.properties.version, s2.properties.version]), versions
    for i in range(26):
        client.set_secret(f"{name}-p{i}", f"v{i}")
    pages = 0
    names = set()
    for page in client.list_properties_of_secrets(max_page_size=10).by_page():
        pages += 1
        names.update(p.name for p in page)
    assert all(f"{name}-p{i}" in names for i in range(26)), "listing lacks a secret"
    assert pages >= 3, pages
    ok(f"{label}: list_properties_of_secret_versions; list_properties_of_secrets over {pages} pages (nextLink)")

    backup = client.backup_secret(name)
    client.begin_delete_secret(name).result()
    assert client.get_deleted_secret(name).name == name
    assert name in [d.name for d in client.list_deleted_secrets()]
    client.begin_recover_deleted_secret(name).result()
    assert client.get_secret(name).value == "value-two"
    ok(f"{label}: delete, get_deleted_secret, list_deleted_secrets, recover")

    client.begin_delete_secret(name).result()
    client.purge_deleted_secret(name)
    try:
        client.get_secret(name)
        raise AssertionError("a purged secret is still there")
    except ResourceNotFoundError as e:
        assert e.status_code == 404
    restored = client.restore_secret_backup(backup)
    assert restored.name == name and client.get_secret(name).value == "value-two"
    client.begin_delete_secret(name).result()
    client.purge_deleted_secret(name)
    ok(f"{label}: purge, 404 after purge, backup_secret/restore_secret_backup")


def keys(label, client, cred, opts):
    name = f"{cfg.prefix}-{label}-key"
    key = client.create_rsa_key(name, size=2048)
    assert key.key_type == "RSA" and len(key.key.n) == 256
    assert client.get_key(name).properties.version == key.properties.version
    ok(f"{label}: create_rsa_key, get_key")

    pub = rsa.RSAPublicNumbers(int.from_bytes(key.key.e, "big"), int.from_bytes(key.key.n, "big")).public_key()
    cc = CryptographyClient(key, cred, **opts)
    msg = f"message for {name}".encode()
    digest = hashlib.sha256(msg).digest()
    sig = cc.sign(SignatureAlgorithm.rs256, digest)
    pub.verify(sig.signature, msg, padding.PKCS1v15(), hashes.SHA256())  # raises if it does not verify
    assert cc.verify(SignatureAlgorithm.rs256, digest, sig.signature).is_valid
    assert not cc.verify(SignatureAlgorithm.rs256, hashlib.sha256(b"other").digest(), sig.signature).is_valid
    ok(f"{label}: sign RS256 verifies locally and in the vault; a wrong digest does not")

    plain = b"plaintext to encrypt"
    enc = cc.encrypt(EncryptionAlgorithm.rsa_oaep_256, plain)
    assert cc.decrypt(EncryptionAlgorithm.rsa_oaep_256, enc.ciphertext).plaintext == plain
    local = pub.encrypt(plain, padding.OAEP(mgf=padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None))
    assert cc.decrypt(EncryptionAlgorithm.rsa_oaep, local).plaintext == plain
    cek = os.urandom(32)
    wrapped = cc.wrap_key(KeyWrapAlgorithm.rsa_oaep, cek)
    assert cc.unwrap_key(KeyWrapAlgorithm.rsa_oaep, wrapped.encrypted_key).key == cek
    ok(f"{label}: encrypt/decrypt RSA-OAEP-256 and RSA-OAEP (locally encrypted), wrap/unwrap")

    ec = client.create_ec_key(f"{name}-ec", curve="P-256")
    ecc = CryptographyClient(ec, cred, **opts)
    esig = ecc.sign(SignatureAlgorithm.es256, digest)
    assert len(esig.signature) == 64
    assert ecc.verify(SignatureAlgorithm.es256, digest, esig.signature).is_valid
    ok(f"{label}: create_ec_key P-256, sign/verify ES256")

    backup = client.backup_key(name)
    for n in (name, f"{name}-ec"):
        client.begin_delete_key(n).result()
        client.purge_deleted_key(n)
    restored = client.restore_key_backup(backup)
    assert restored.key.n == key.key.n
    client.begin_delete_key(name).result()
    client.purge_deleted_key(name)
    ok(f"{label}: backup_key, delete, purge, restore_key_backup")


def certificates(label, client, secret_client):
    name = f"{cfg.prefix}-{label}-cert"
    policy = CertificatePolicy(issuer_name="Self", subject=f"CN={name}.example.com",
                               san_dns_names=[f"{name}.example.com"], content_type="application/x-pem-file",
                               key_type="RSA", key_size=2048, validity_in_months=12, exportable=True)
    created = client.begin_create_certificate(name, policy, _polling_interval=0.2).result()
    cert = x509.load_der_x509_certificate(bytes(created.cer))
    cn = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == f"{name}.example.com", cn
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    assert sans == [f"{name}.example.com"], sans
    got = client.get_certificate(name)
    assert bytes(got.cer) == bytes(created.cer) and got.policy.issuer_name == "Self"
    ok(f"{label}: begin_create_certificate (Self) completes; subject and SAN as asked; get_certificate")

    sec = secret_client.get_secret(name)
    assert sec.properties.content_type == "application/x-pem-file"
    key = serialization.load_pem_private_key(sec.value.encode(), None)
    assert key.public_key().public_numbers() == cert.public_key().public_numbers()
    ok(f"{label}: the certificate's secret (PEM) holds the matching private key")

    imp = client.import_certificate(f"{name}-imp", client_cert()["pem"],
                                    policy=CertificatePolicy(content_type="application/x-pem-file"))
    assert bytes(imp.properties.x509_thumbprint).hex().upper() == client_cert()["sha1"]
    assert f"{name}-imp" in [p.name for p in client.list_properties_of_certificates()]
    ok(f"{label}: import_certificate (PEM): x509_thumbprint is the file's SHA-1; listed")

    for n in (name, f"{name}-imp"):
        client.begin_delete_certificate(n).result()
        client.purge_deleted_certificate(n)
    try:
        client.get_certificate(name)
        raise AssertionError("a purged certificate is still there")
    except ResourceNotFoundError:
        pass
    ok(f"{label}: delete and purge; 404 after purge")

    # Issuer Unknown: a CSR for a CA outside the vault; the certificate is
    # pending (disabled, no cer) until merged.
    csr_name = f"{name}-csr"
    client.begin_create_certificate(csr_name, CertificatePolicy(issuer_name="Unknown", subject=f"CN={csr_name}.example.com"))
    pending = client.get_certificate(csr_name)
    assert pending.properties.enabled is False and not pending.cer, pending
    assert csr_name not in [p.name for p in client.list_properties_of_certificates()]
    listed = [p for p in client.list_properties_of_certificates(include_pending=True) if p.name == csr_name]
    assert len(listed) == 1 and listed[0].enabled is False and not listed[0].x509_thumbprint, listed
    op = client.get_certificate_operation(csr_name)
    assert op.status == "inProgress" and op.csr, op
    x509.load_der_x509_csr(bytes(op.csr))
    assert client.cancel_certificate_operation(csr_name).status == "cancelled"
    assert client.delete_certificate_operation(csr_name).status == "cancelled"
    try:
        client.get_certificate(csr_name)
        raise AssertionError("the certificate is still there after its operation was deleted")
    except ResourceNotFoundError:
        pass
    ok(f"{label}: issuer Unknown: pending certificate (listed with include_pending=True only), CSR, cancel and delete the operation")


def main():
    cred = credentials()
    forms = []
    if cfg.vault_url:
        forms.append(("host", cfg.vault_url, {}))
    if cfg.vault_path_url:
        # Path form: the vault host is not a subdomain of the challenge resource.
        forms.append(("path", cfg.vault_path_url, {"verify_challenge_resource": False}))
    for label, url, opts in forms:
        secrets(label, SecretClient(url, cred, **opts))
        keys(label, KeyClient(url, cred, **opts), cred, opts)
        certificates(label, CertificateClient(url, cred, **opts), SecretClient(url, cred, **opts))


run("azure-identity and azure-keyvault (Python)", main)
