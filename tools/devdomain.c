/* SPDX-License-Identifier: Apache-2.0 */
#include "tools/devdomain.h"

#include <stdio.h>
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

/* A token object with a known value, as a development enrolment would make (trk.hex). */
static int
known_token_key(struct kms_p11_session *s, const char *label, const uint8_t *v, int ink)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = ink ? CKK_GENERIC_SECRET : CKK_AES;
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_MECHANISM_TYPE allowed[2] = {CKM_AES_KEY_WRAP_PAD, CKM_AES_ECB};
	CK_MECHANISM_TYPE hmac[1] = {CKM_SHA256_HMAC};
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &type, sizeof(type)},
		{CKA_VALUE, (void *)(uintptr_t)v, 32},
		{CKA_TOKEN, &t, sizeof(t)},
		{CKA_PRIVATE, &t, sizeof(t)},
		{CKA_SENSITIVE, &t, sizeof(t)},
		{CKA_EXTRACTABLE, &fl, sizeof(fl)},
		{CKA_LABEL, (void *)(uintptr_t)label, (CK_ULONG)strlen(label)},
		{ink ? CKA_SIGN : CKA_WRAP, &t, sizeof(t)},
		{CKA_ENCRYPT, ink ? &fl : &t, sizeof(t)},
		{CKA_ALLOWED_MECHANISMS, ink ? hmac : allowed,
		 ink ? sizeof(hmac) : sizeof(allowed)},
	};
	CK_OBJECT_HANDLE h;

	return kms_p11_create_object(s, &h, tmpl, 11);
}

static int
put_secret(struct kms_store *st, struct kms_p11_session *s, const struct kms_wrap_policy *pol,
	   CK_OBJECT_HANDLE kek, const char *name, const uint8_t *v, size_t len)
{
	struct kms_store_blob b;

	memset(&b, 0, sizeof(b));
	if (kms_wrap_bytes(s, pol, kek, v, len, b.data, sizeof(b.data), &b.len) != KMS_OK) {
		return -1;
	}
	return kms_store_put_secret(st, name, &b) == KMS_OK ? 0 : -1;
}

/* A pre-minted key set for uri and period, computed and wrapped under the KEK (the ceremony). */
static int
premint(struct kms_store *st, struct kms_p11_session *s, const struct kms_wrap_policy *pol,
	CK_OBJECT_HANDLE kek, struct kms_eccsi_kms *e, struct kms_sakke_kms *k, const char *uri,
	uint64_t period)
{
	uint8_t uid[KMS_UID_LEN], ssk[32], pvt[65], rsk[257];
	struct kms_store_keyset ks;
	int ok;

	memset(&ks, 0, sizeof(ks));
	ok = kms_uid_compute(uid, uri, strlen(uri), KMS_URI, strlen(KMS_URI), PERIOD, 0, period) ==
		     KMS_OK &&
	     kms_eccsi_issue(e, uid, sizeof(uid), ssk, pvt) == KMS_OK &&
	     kms_sakke_issue(k, uid, sizeof(uid), rsk) == KMS_OK &&
	     kms_wrap_bytes(s, pol, kek, rsk, sizeof(rsk), ks.rsk.data, sizeof(ks.rsk.data),
			    &ks.rsk.len) == KMS_OK &&
	     kms_wrap_bytes(s, pol, kek, ssk, sizeof(ssk), ks.ssk.data, sizeof(ks.ssk.data),
			    &ks.ssk.len) == KMS_OK &&
	     kms_wrap_bytes(s, pol, kek, pvt, sizeof(pvt), ks.pvt.data, sizeof(ks.pvt.data),
			    &ks.pvt.len) == KMS_OK &&
	     kms_store_put_keyset(st, uri, period, &ks) == KMS_OK;
	return ok ? 0 : -1;
}

int
kms_devdomain_new(struct kms_devdomain *d, const char *token_label)
{
	struct kms_p11_session *s = NULL;
	struct kms_store *st = NULL;
	struct kms_eccsi_kms *e = NULL;
	struct kms_sakke_kms *k = NULL;
	struct kms_wrap_policy pol = {CKM_AES_KEY_WRAP_PAD, KMS_WRAP_HOST_ECB};
	struct kms_store_cert cert;
	struct kms_store_client c;
	CK_OBJECT_HANDLE kek;
	uint8_t ksak[32], z[128];
	int rc = 1;

	if (kms_devtoken_new(&d->tok, token_label) != 0 ||
	    kms_store_open(&st, d->tok.store_path, KMS_STORE_CREATE) != KMS_OK ||
	    kms_p11_borrow(d->tok.p11, &s) != KMS_OK) {
		goto out;
	}
	/* the ceremony's part: KEK, master secrets, certificate */
	if (kms_keys_generate(s, &kek, KMS_KEY_KEK, KEK_LABEL, &pol, 0, 0) != KMS_OK ||
	    kms_eccsi_kms_generate(&e) != KMS_OK || kms_sakke_kms_generate(&k) != KMS_OK) {
		goto out;
	}
	kms_eccsi_kms_ksak(e, ksak);
	kms_sakke_kms_secret(k, z);
	kms_eccsi_kms_kpak(e, d->kpak);
	kms_sakke_kms_public(k, d->zpub);
	if (put_secret(st, s, &pol, kek, "ksak", ksak, sizeof(ksak)) != 0 ||
	    put_secret(st, s, &pol, kek, "z_t", z, sizeof(z)) != 0) {
		goto out;
	}
	memset(&cert, 0, sizeof(cert));
	snprintf(cert.kms_uri, sizeof(cert.kms_uri), "%s", KMS_URI);
	cert.user_key_period = PERIOD;
	memcpy(cert.kpak, d->kpak, sizeof(d->kpak));
	memcpy(cert.z_t, d->zpub, sizeof(d->zpub));
	if (kms_store_put_cert(st, &cert) != KMS_OK) {
		goto out;
	}
	/* the roster: alice and bob, each entitled to themselves; carol revoked */
	if (RAND_bytes(d->alice_trk, 32) != 1 || RAND_bytes(d->alice_ink, 32) != 1 ||
	    RAND_bytes(d->bob_trk, 32) != 1 || RAND_bytes(d->bob_ink, 32) != 1 ||
	    known_token_key(s, "tk.0.alice", d->alice_trk, 0) != KMS_OK ||
	    known_token_key(s, "ik.0.alice", d->alice_ink, 1) != KMS_OK ||
	    known_token_key(s, "tk.0.bob", d->bob_trk, 0) != KMS_OK ||
	    known_token_key(s, "ik.0.bob", d->bob_ink, 1) != KMS_OK) {
		goto out;
	}
	memset(&c, 0, sizeof(c));
	c.cls = KMS_CLIENT_UE;
	snprintf(c.client_id, sizeof(c.client_id), "alice");
	snprintf(c.trk_label, sizeof(c.trk_label), "tk.0.alice");
	snprintf(c.ink_label, sizeof(c.ink_label), "ik.0.alice");
	if (kms_store_put_client(st, &c) != KMS_OK) {
		goto out;
	}
	snprintf(c.client_id, sizeof(c.client_id), "bob");
	snprintf(c.trk_label, sizeof(c.trk_label), "tk.0.bob");
	snprintf(c.ink_label, sizeof(c.ink_label), "ik.0.bob");
	if (kms_store_put_client(st, &c) != KMS_OK || kms_store_add_identity(st, ALICE) != KMS_OK ||
	    kms_store_add_identity(st, BOB) != KMS_OK ||
	    kms_store_add_identity(st, "sip:carol@example.org") != KMS_OK ||
	    kms_store_entitle(st, "alice", ALICE) != KMS_OK ||
	    kms_store_entitle(st, "bob", BOB) != KMS_OK ||
	    kms_store_entitle(st, "alice", "sip:carol@example.org") != KMS_OK ||
	    kms_store_set_identity_revoked(st, "sip:carol@example.org", 1) != KMS_OK) {
		goto out;
	}
	/* pre-minted: alice's set for this period only */
	if (kms_key_period_no(&d->now_period, kms_devdomain_ntp_now(), PERIOD, 0) != KMS_OK ||
	    premint(st, s, &pol, kek, e, k, ALICE, d->now_period) != 0) {
		goto out;
	}
	kms_p11_return(s);
	s = NULL;
	kms_store_close(st);
	st = NULL;
	rc = 0;
out:
	kms_memzero(ksak, sizeof(ksak));
	kms_memzero(z, sizeof(z));
	kms_p11_return(s);
	kms_store_close(st);
	kms_eccsi_kms_free(e);
	kms_sakke_kms_free(k);
	return rc;
}

int
kms_devdomain_free(struct kms_devdomain *d)
{
	kms_memzero(d->alice_trk, sizeof(d->alice_trk));
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
