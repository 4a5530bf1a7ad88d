/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/devdomain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "common/secmem.h"
#include "hsm/keys.h"
#include "hsm/uid.h"
#include "proto/store.h"

#include "common/banned.h"

#define KMS_URI   KMS_DEV_KMS_URI
#define PERIOD    KMS_DEV_PERIOD
#define KEK_LABEL KMS_DEV_KEK
#define ALICE     KMS_DEV_ALICE
#define BOB       KMS_DEV_BOB

uint64_t
kms_devdomain_ntp_now(void)
{
	return kms_ntp_from_unix((uint64_t)time(NULL));
}

int
kms_devdomain_known_key(struct kms_p11_session *s, const char *label, const uint8_t value[32],
			int ink)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = ink ? CKK_GENERIC_SECRET : CKK_AES;
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_MECHANISM_TYPE allowed[2] = {CKM_AES_KEY_WRAP_PAD, CKM_AES_ECB};
	CK_MECHANISM_TYPE hmac[1] = {CKM_SHA256_HMAC};
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &type, sizeof(type)},
		{CKA_VALUE, (void *)(uintptr_t)value, 32},
		{CKA_TOKEN, &t, sizeof(t)},
		{CKA_PRIVATE, &t, sizeof(t)},
		{CKA_SENSITIVE, &t, sizeof(t)},
		{CKA_EXTRACTABLE, &fl, sizeof(fl)},
		{CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
		{ink ? CKA_SIGN : CKA_WRAP, &t, sizeof(t)},
		{CKA_UNWRAP, &fl, sizeof(fl)}, /* never a KEK (hsm/keys.h) */
		{CKA_ENCRYPT, ink ? &fl : &t, sizeof(t)},
		{CKA_ALLOWED_MECHANISMS, ink ? hmac : allowed,
		 ink ? sizeof(hmac) : sizeof(allowed)},
	};
	CK_OBJECT_HANDLE h;

	return kms_p11_create_object(s, &h, tmpl, sizeof(tmpl) / sizeof(tmpl[0]));
}

static int
put_secret(struct kms_store *st, struct kms_p11_session *s, const struct kms_wrap_policy *pol,
	   CK_OBJECT_HANDLE kek, const char *name, const uint8_t *v, size_t len)
{
	struct kms_store_blob b;
	int r;

	memset(&b, 0, sizeof(b));
	if ((r = kms_wrap_bytes(s, pol, kek, v, len, b.data, sizeof(b.data), &b.len)) != KMS_OK) {
		return r;
	}
	return kms_store_put_secret(st, name, &b);
}

int
kms_devdomain_ceremony(struct kms_p11_session *s, struct kms_store *st,
		       const struct kms_wrap_policy *pol, const char *kek_label,
		       const char *kms_uri, const char *cert_uri, uint64_t period,
		       CK_OBJECT_HANDLE *out_kek, uint8_t out_kpak[KMS_ECCSI_POINT_LEN],
		       uint8_t out_zpub[KMS_SAKKE_POINT_LEN], struct kms_eccsi_kms **out_eccsi,
		       struct kms_sakke_kms **out_sakke)
{
	struct kms_eccsi_kms *e = NULL;
	struct kms_sakke_kms *k = NULL;
	struct kms_store_cert *cert = NULL;
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE;
	uint8_t ksak[KMS_ECCSI_SCALAR_LEN], z[KMS_SAKKE_SCALAR_LEN];
	int r = KMS_ERR_INTERNAL;

	*out_kek = CK_INVALID_HANDLE;
	memset(out_kpak, 0, KMS_ECCSI_POINT_LEN);
	memset(out_zpub, 0, KMS_SAKKE_POINT_LEN);
	if (out_eccsi != NULL) {
		*out_eccsi = NULL;
	}
	if (out_sakke != NULL) {
		*out_sakke = NULL;
	}
	if (strlen(kms_uri) > KMS_STORE_MAX_URI || strlen(cert_uri) > KMS_STORE_MAX_URI) {
		return KMS_ERR_INVALID_ARG;
	}
	cert = calloc(1, sizeof(*cert));
	if (cert == NULL) {
		return KMS_ERR_NOMEM;
	}
	if ((r = kms_keys_generate(s, &kek, KMS_KEY_KEK, kek_label, pol, 0, 0)) != KMS_OK ||
	    (r = kms_eccsi_kms_generate(&e)) != KMS_OK ||
	    (r = kms_sakke_kms_generate(&k)) != KMS_OK) {
		goto out;
	}
	kms_eccsi_kms_ksak(e, ksak);
	kms_sakke_kms_secret(k, z);
	if ((r = put_secret(st, s, pol, kek, "ksak", ksak, sizeof(ksak))) != KMS_OK ||
	    (r = put_secret(st, s, pol, kek, "z_t", z, sizeof(z))) != KMS_OK) {
		goto out;
	}
	snprintf(cert->kms_uri, sizeof(cert->kms_uri), "%s", kms_uri);
	snprintf(cert->cert_uri, sizeof(cert->cert_uri), "%s", cert_uri);
	cert->user_key_period = period;
	cert->user_key_offset = 0;
	kms_eccsi_kms_kpak(e, cert->kpak);
	kms_sakke_kms_public(k, cert->z_t);
	if ((r = kms_store_put_cert(st, cert)) != KMS_OK) {
		goto out;
	}
	memcpy(out_kpak, cert->kpak, KMS_ECCSI_POINT_LEN);
	memcpy(out_zpub, cert->z_t, KMS_SAKKE_POINT_LEN);
	*out_kek = kek;
	if (out_eccsi != NULL) {
		*out_eccsi = e;
		e = NULL; /* transferred */
	}
	if (out_sakke != NULL) {
		*out_sakke = k;
		k = NULL; /* transferred */
	}
	r = KMS_OK;
out:
	kms_memzero(ksak, sizeof(ksak));
	kms_memzero(z, sizeof(z));
	kms_eccsi_kms_free(e);
	kms_sakke_kms_free(k);
	free(cert);
	return r;
}

int
kms_devdomain_enrol(struct kms_p11_session *s, struct kms_store *st, const char *client_id,
		    enum kms_client_class cls, const char *identity, const char *trk_label,
		    const uint8_t trk[32], const char *ink_label, const uint8_t ink[32])
{
	struct kms_store_client c;
	int r;

	if (strlen(client_id) > KMS_STORE_MAX_ID || strlen(trk_label) > KMS_STORE_MAX_ID ||
	    strlen(ink_label) > KMS_STORE_MAX_ID) {
		return KMS_ERR_INVALID_ARG;
	}
	if ((r = kms_devdomain_known_key(s, trk_label, trk, 0)) != KMS_OK ||
	    (r = kms_devdomain_known_key(s, ink_label, ink, 1)) != KMS_OK) {
		return r;
	}
	memset(&c, 0, sizeof(c));
	c.cls = cls;
	snprintf(c.client_id, sizeof(c.client_id), "%s", client_id);
	snprintf(c.trk_label, sizeof(c.trk_label), "%s", trk_label);
	snprintf(c.ink_label, sizeof(c.ink_label), "%s", ink_label);
	if ((r = kms_store_put_client(st, &c)) != KMS_OK ||
	    (r = kms_store_add_identity(st, identity)) != KMS_OK) {
		return r;
	}
	return kms_store_entitle(st, client_id, identity);
}

int
kms_devdomain_premint(struct kms_store *st, struct kms_p11_session *s,
		      const struct kms_wrap_policy *pol, CK_OBJECT_HANDLE kek,
		      struct kms_eccsi_kms *e, struct kms_sakke_kms *k, const char *uri,
		      uint64_t period)
{
	uint8_t uid[KMS_UID_LEN], ssk[32], pvt[65], rsk[257];
	struct kms_store_keyset ks;
	int r;

	memset(&ks, 0, sizeof(ks));
	if ((r = kms_uid_compute(uid, uri, strlen(uri), KMS_URI, strlen(KMS_URI), PERIOD, 0,
				 period)) == KMS_OK &&
	    (r = kms_eccsi_issue(e, uid, sizeof(uid), ssk, pvt)) == KMS_OK &&
	    (r = kms_sakke_issue(k, uid, sizeof(uid), rsk)) == KMS_OK &&
	    (r = kms_wrap_bytes(s, pol, kek, rsk, sizeof(rsk), ks.rsk.data, sizeof(ks.rsk.data),
				&ks.rsk.len)) == KMS_OK &&
	    (r = kms_wrap_bytes(s, pol, kek, ssk, sizeof(ssk), ks.ssk.data, sizeof(ks.ssk.data),
				&ks.ssk.len)) == KMS_OK &&
	    (r = kms_wrap_bytes(s, pol, kek, pvt, sizeof(pvt), ks.pvt.data, sizeof(ks.pvt.data),
				&ks.pvt.len)) == KMS_OK) {
		r = kms_store_put_keyset(st, uri, period, &ks);
	}
	kms_memzero(ssk, sizeof(ssk));
	kms_memzero(rsk, sizeof(rsk));
	return r;
}

int
kms_devdomain_new(struct kms_devdomain *d, const char *token_label)
{
	return kms_devdomain_new_kind(d, token_label, KMS_DEVTOKEN_SOFTHSM);
}

int
kms_devdomain_new_kind(struct kms_devdomain *d, const char *token_label,
		       enum kms_devtoken_kind kind)
{
	struct kms_p11_session *s = NULL;
	struct kms_store *st = NULL;
	struct kms_eccsi_kms *e = NULL;
	struct kms_sakke_kms *k = NULL;
	/* SoftHSM's RFC 5649 pads wrongly: host ECB; NSS's 0x210b is exact: the token's own */
	struct kms_wrap_policy pol = {CKM_AES_KEY_WRAP_PAD, KMS_WRAP_HOST_ECB};
	CK_OBJECT_HANDLE kek;
	int rc = 1;

	if (kind == KMS_DEVTOKEN_NSS) {
		pol.kwp = KMS_CKM_AES_KEY_WRAP_KWP;
		pol.mode = KMS_WRAP_TOKEN;
	}
	d->kwp = pol.kwp;
	if (kms_devtoken_new_kind(&d->tok, token_label, kind) != 0 ||
	    kms_store_open(&st, d->tok.store_path, KMS_STORE_CREATE) != KMS_OK ||
	    kms_p11_borrow(d->tok.p11, &s) != KMS_OK) {
		goto out;
	}
	/* the ceremony's part: KEK, master secrets, certificate */
	if (kms_devdomain_ceremony(s, st, &pol, KEK_LABEL, KMS_URI, "", PERIOD, &kek, d->kpak,
				   d->zpub, &e, &k) != KMS_OK) {
		goto out;
	}
	/* the roster: alice and bob, each entitled to themselves; carol revoked */
	if (RAND_bytes(d->alice_trk, 32) != 1 || RAND_bytes(d->alice_ink, 32) != 1 ||
	    RAND_bytes(d->bob_trk, 32) != 1 || RAND_bytes(d->bob_ink, 32) != 1 ||
	    kms_devdomain_enrol(s, st, "alice", KMS_CLIENT_UE, ALICE, "tk.0.alice", d->alice_trk,
				"ik.0.alice", d->alice_ink) != KMS_OK ||
	    kms_devdomain_enrol(s, st, "bob", KMS_CLIENT_UE, BOB, "tk.0.bob", d->bob_trk,
				"ik.0.bob", d->bob_ink) != KMS_OK ||
	    kms_store_add_identity(st, "sip:carol@example.org") != KMS_OK ||
	    kms_store_entitle(st, "alice", "sip:carol@example.org") != KMS_OK ||
	    kms_store_set_identity_revoked(st, "sip:carol@example.org", 1) != KMS_OK) {
		goto out;
	}
	/* pre-minted: alice's set for this period only */
	if (kms_key_period_no(&d->now_period, kms_devdomain_ntp_now(), PERIOD, 0) != KMS_OK ||
	    kms_devdomain_premint(st, s, &pol, kek, e, k, ALICE, d->now_period) != KMS_OK) {
		goto out;
	}
	rc = 0;
out:
	kms_p11_return(s);
	kms_store_close(st);
	kms_eccsi_kms_free(e);
	kms_sakke_kms_free(k);
	if (rc != 0) {
		(void)kms_devtoken_free(
			&d->tok); /* nothing left behind; a second free is a no-op */
	}
	return rc;
}

int
kms_devdomain_free(struct kms_devdomain *d)
{
	kms_memzero(d->alice_trk, sizeof(d->alice_trk));
	kms_memzero(d->alice_ink, sizeof(d->alice_ink));
	kms_memzero(d->bob_trk, sizeof(d->bob_trk));
	kms_memzero(d->bob_ink, sizeof(d->bob_ink));
	return kms_devtoken_free(&d->tok);
}

size_t
kms_devdomain_client_unwrap(const uint8_t key[32], const uint8_t *blob, size_t blob_len,
			    uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	size_t n = 0;

	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL) == 1 &&
	    EVP_DecryptUpdate(c, out, &l1, blob, (int)blob_len) == 1 &&
	    EVP_DecryptFinal_ex(c, out + l1, &l2) == 1) {
		n = (size_t)l1 + (size_t)l2;
	}
	EVP_CIPHER_CTX_free(c);
	return n;
}

int
kms_devdomain_client_checks(const struct kms_devdomain *d, const struct kms_proto_provision_rep *p,
			    const uint8_t trk[32], const uint8_t ink[32], const char *uri,
			    uint8_t out_ssk[32], uint8_t out_rsk[257])
{
	uint8_t rsk[512], ssk[512], pvt[512], uid[KMS_UID_LEN], mac[32];
	uint8_t buf[2048];
	unsigned int mac_len = 0;
	size_t n = 0;
	int i;
	int ok = 1;

	ok &= kms_devdomain_client_unwrap(trk, p->rsk_wrapped, p->rsk_wrapped_len, rsk) == 257;
	ok &= kms_devdomain_client_unwrap(trk, p->ssk_wrapped, p->ssk_wrapped_len, ssk) == 32;
	ok &= kms_devdomain_client_unwrap(trk, p->pvt_wrapped, p->pvt_wrapped_len, pvt) == 65;
	ok &= kms_uid_compute(uid, uri, strlen(uri), KMS_URI, strlen(KMS_URI), PERIOD, 0,
			      p->key_period) == KMS_OK;
	ok &= memcmp(uid, p->user_id, sizeof(uid)) == 0;
	ok &= kms_eccsi_validate(d->kpak, uid, sizeof(uid), ssk, pvt) == KMS_OK;
	ok &= kms_sakke_validate(d->zpub, uid, sizeof(uid), rsk) == KMS_OK;
	ok &= p->period_start == p->key_period * PERIOD &&
	      p->period_end == (p->key_period + 1) * PERIOD;
	ok &= strcmp(p->kms_uri, KMS_URI) == 0;
	/* the HMAC, as adapter.h lays it out */
	memcpy(buf, "KMS-KEYSET-1", 12);
	n = 12;
	for (i = 7; i >= 0; i--) {
		buf[n++] = (uint8_t)(p->key_period >> (8 * i));
	}
	memcpy(buf + n, p->user_id, 32);
	n += 32;
	buf[n++] = (uint8_t)(p->rsk_wrapped_len >> 8);
	buf[n++] = (uint8_t)p->rsk_wrapped_len;
	memcpy(buf + n, p->rsk_wrapped, p->rsk_wrapped_len);
	n += p->rsk_wrapped_len;
	buf[n++] = (uint8_t)(p->ssk_wrapped_len >> 8);
	buf[n++] = (uint8_t)p->ssk_wrapped_len;
	memcpy(buf + n, p->ssk_wrapped, p->ssk_wrapped_len);
	n += p->ssk_wrapped_len;
	buf[n++] = (uint8_t)(p->pvt_wrapped_len >> 8);
	buf[n++] = (uint8_t)p->pvt_wrapped_len;
	memcpy(buf + n, p->pvt_wrapped, p->pvt_wrapped_len);
	n += p->pvt_wrapped_len;
	buf[n++] = (uint8_t)p->trk_id_len;
	memcpy(buf + n, p->trk_id, p->trk_id_len);
	n += p->trk_id_len;
	ok &= HMAC(EVP_sha256(), ink, 32, buf, n, mac, &mac_len) != NULL && mac_len == 32 &&
	      memcmp(mac, p->hmac, 32) == 0;
	if (out_ssk != NULL) {
		memcpy(out_ssk, ssk, 32);
	}
	if (out_rsk != NULL) {
		memcpy(out_rsk, rsk, 257);
	}
	return ok;
}

void
kms_devdomain_adapter_cfg(struct kms_adapter_config *cfg, const char *store_path,
			  CK_MECHANISM_TYPE kwp, enum kms_issuer issuer)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->store_path = store_path;
	cfg->kek_label = KMS_DEV_KEK;
	cfg->issuer = issuer;
	cfg->id_format = KMS_ID_RAW;
	cfg->kwp = kwp;
	cfg->allow_host_ecb = kwp == CKM_AES_KEY_WRAP_PAD; /* SoftHSM 2.6.1's defect only */
	cfg->future_periods = 1;
}
