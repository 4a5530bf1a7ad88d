/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HSM adapter (hsm/adapter.c) against a real SoftHSM token and a real store: a
 * ceremony-like set-up (KEK in the token, master secrets and pre-minted key sets wrapped under
 * it, certificate and roster in the store), then every operation, as a client checks it: the
 * wrapped key set unwrapped with OpenSSL with the client's TrK and validated (RFC 6507 and
 * RFC 6508 client checks), the HMAC recomputed with the InK; the entitlement matrix; key
 * periods; rotation; the frame loop over a socketpair with bad frames; reply frames scanned for
 * plaintext keys.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include "hsm/adapter.h"
#include "hsm/eccsi.h"
#include "hsm/sakke.h"
#include "proto/frame.h"
#include "proto/store.h"
#include "tests/hsm/tmp_token.h"
#include "tests/unit/kms_test.h"

#define KMS_URI   "kms.example.org"
#define PERIOD    2592000ULL
#define KEK_LABEL "kms.kek"
#define ALICE     "sip:alice@example.org"
#define BOB       "sip:bob@example.org"

static struct kms_tmp_token tok;
static struct kms_adapter *online;
static struct kms_adapter *preminted;
/* the clients' copies of their keys (known in this test, as a client knows them) */
static uint8_t alice_trk[32], alice_ink[32], bob_trk[32], bob_ink[32];
static uint8_t kpak[KMS_ECCSI_POINT_LEN];
static uint8_t zpub[KMS_SAKKE_POINT_LEN];
static uint64_t now_period;

static uint64_t
ntp_now(void)
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

static int
suite_init(void)
{
	struct kms_p11_session *s = NULL;
	struct kms_store *st = NULL;
	struct kms_eccsi_kms *e = NULL;
	struct kms_sakke_kms *k = NULL;
	struct kms_wrap_policy pol = {CKM_AES_KEY_WRAP_PAD, KMS_WRAP_HOST_ECB};
	struct kms_store_cert cert;
	struct kms_store_client c;
	struct kms_adapter_config cfg;
	CK_OBJECT_HANDLE kek;
	uint8_t ksak[32], z[128];
	int rc = 1;

	if (kms_tmp_token_new(&tok, "kms-adapter-test") != 0 ||
	    kms_store_open(&st, tok.store_path, KMS_STORE_CREATE) != KMS_OK ||
	    kms_p11_borrow(tok.p11, &s) != KMS_OK) {
		goto out;
	}
	/* the ceremony's part: KEK, master secrets, certificate */
	if (kms_keys_generate(s, &kek, KMS_KEY_KEK, KEK_LABEL, &pol, 0, 0) != KMS_OK ||
	    kms_eccsi_kms_generate(&e) != KMS_OK || kms_sakke_kms_generate(&k) != KMS_OK) {
		goto out;
	}
	kms_eccsi_kms_ksak(e, ksak);
	kms_sakke_kms_secret(k, z);
	kms_eccsi_kms_kpak(e, kpak);
	kms_sakke_kms_public(k, zpub);
	if (put_secret(st, s, &pol, kek, "ksak", ksak, sizeof(ksak)) != 0 ||
	    put_secret(st, s, &pol, kek, "z_t", z, sizeof(z)) != 0) {
		goto out;
	}
	memset(&cert, 0, sizeof(cert));
	snprintf(cert.kms_uri, sizeof(cert.kms_uri), "%s", KMS_URI);
	cert.user_key_period = PERIOD;
	memcpy(cert.kpak, kpak, sizeof(kpak));
	memcpy(cert.z_t, zpub, sizeof(zpub));
	if (kms_store_put_cert(st, &cert) != KMS_OK) {
		goto out;
	}
	/* the roster: alice and bob, each entitled to themselves; carol revoked */
	if (RAND_bytes(alice_trk, 32) != 1 || RAND_bytes(alice_ink, 32) != 1 ||
	    RAND_bytes(bob_trk, 32) != 1 || RAND_bytes(bob_ink, 32) != 1 ||
	    known_token_key(s, "tk.0.alice", alice_trk, 0) != KMS_OK ||
	    known_token_key(s, "ik.0.alice", alice_ink, 1) != KMS_OK ||
	    known_token_key(s, "tk.0.bob", bob_trk, 0) != KMS_OK ||
	    known_token_key(s, "ik.0.bob", bob_ink, 1) != KMS_OK) {
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
	if (kms_key_period_no(&now_period, ntp_now(), PERIOD, 0) != KMS_OK ||
	    premint(st, s, &pol, kek, e, k, ALICE, now_period) != 0) {
		goto out;
	}
	kms_p11_return(s);
	s = NULL;
	kms_store_close(st);
	st = NULL;
	memset(&cfg, 0, sizeof(cfg));
	cfg.store_path = tok.store_path;
	cfg.kek_label = KEK_LABEL;
	cfg.issuer = KMS_ISSUER_ONLINE;
	cfg.id_format = KMS_ID_RAW;
	cfg.kwp = CKM_AES_KEY_WRAP_PAD;
	cfg.allow_host_ecb = 1;
	cfg.future_periods = 1;
	if (kms_adapter_new(&online, tok.p11, &cfg) != KMS_OK) {
		goto out;
	}
	cfg.issuer = KMS_ISSUER_PREMINTED;
	if (kms_adapter_new(&preminted, tok.p11, &cfg) != KMS_OK) {
		goto out;
	}
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

static int
suite_cleanup(void)
{
	kms_adapter_free(online);
	kms_adapter_free(preminted);
	online = preminted = NULL;
	return kms_tmp_token_free(&tok) == 0 ? 0 : 1;
}

static size_t
client_unwrap(const uint8_t key[32], const uint8_t *blob, size_t blob_len, uint8_t *out)
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

static void
provision_req(struct kms_proto_request *req, const char *client, const char *uri, uint64_t period)
{
	memset(req, 0, sizeof(*req));
	req->op = KMS_PROTO_PROVISION;
	req->id = 7;
	req->u.provision.client_id_len = strlen(client);
	memcpy(req->u.provision.client_id, client, req->u.provision.client_id_len);
	req->u.provision.identity_len = strlen(uri);
	memcpy(req->u.provision.identity, uri, req->u.provision.identity_len);
	req->u.provision.key_period = period;
}

/* Check a provision reply the way the client would; returns 1 if all holds. */
static int
client_checks(const struct kms_proto_provision_rep *p, const uint8_t trk[32], const uint8_t ink[32],
	      const char *uri, uint8_t out_ssk[32], uint8_t out_rsk[257])
{
	uint8_t rsk[512], ssk[512], pvt[512], uid[KMS_UID_LEN], mac[32];
	uint8_t buf[2048];
	unsigned int mac_len = 0;
	size_t n = 0;
	int i;
	int ok = 1;

	ok &= client_unwrap(trk, p->rsk_wrapped, p->rsk_wrapped_len, rsk) == 257;
	ok &= client_unwrap(trk, p->ssk_wrapped, p->ssk_wrapped_len, ssk) == 32;
	ok &= client_unwrap(trk, p->pvt_wrapped, p->pvt_wrapped_len, pvt) == 65;
	ok &= kms_uid_compute(uid, uri, strlen(uri), KMS_URI, strlen(KMS_URI), PERIOD, 0,
			      p->key_period) == KMS_OK;
	ok &= memcmp(uid, p->user_id, sizeof(uid)) == 0;
	ok &= kms_eccsi_validate(kpak, uid, sizeof(uid), ssk, pvt) == KMS_OK;
	ok &= kms_sakke_validate(zpub, uid, sizeof(uid), rsk) == KMS_OK;
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

static void
test_online_provision(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;

	provision_req(&req, "alice", ALICE, now_period);
	kms_adapter_handle(online, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT_EQUAL(rep.id, 7);
	CU_ASSERT_STRING_EQUAL(rep.u.provision.trk_id, "tk.0.alice");
	CU_ASSERT(client_checks(&rep.u.provision, alice_trk, alice_ink, ALICE, NULL, NULL));
	/* with bob's keys, nothing checks */
	CU_ASSERT(!client_checks(&rep.u.provision, bob_trk, bob_ink, ALICE, NULL, NULL));
	/* the next period too */
	provision_req(&req, "alice", ALICE, now_period + 1);
	kms_adapter_handle(online, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(client_checks(&rep.u.provision, alice_trk, alice_ink, ALICE, NULL, NULL));
}

static void
test_preminted_provision(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	uint8_t ssk1[32], ssk2[32], rsk1[257], rsk2[257];

	provision_req(&req, "alice", ALICE, now_period);
	kms_adapter_handle(preminted, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(client_checks(&rep.u.provision, alice_trk, alice_ink, ALICE, ssk1, rsk1));
	/* the same set every time (it was minted once), unlike the online issuer's SSK */
	kms_adapter_handle(preminted, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(client_checks(&rep.u.provision, alice_trk, alice_ink, ALICE, ssk2, rsk2));
	CU_ASSERT(memcmp(ssk1, ssk2, 32) == 0 && memcmp(rsk1, rsk2, 257) == 0);
	/* a set the store lacks is an error, never computed on the fly */
	provision_req(&req, "alice", ALICE, now_period + 1);
	kms_adapter_handle(preminted, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&rep.u, sizeof(rep.u)));
	provision_req(&req, "bob", BOB, now_period);
	kms_adapter_handle(preminted, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
}

static void
test_entitlements_and_periods(void)
{
	static const struct {
		const char *client, *uri;
		int want;
	} m[] = {
		{"alice", ALICE, KMS_OK},
		{"bob", BOB, KMS_OK},
		{"alice", BOB, KMS_ERR_FORBIDDEN},
		{"bob", ALICE, KMS_ERR_FORBIDDEN},
		{"alice", "sip:nobody@example.org", KMS_ERR_FORBIDDEN},
		{"alice", "sip:carol@example.org", KMS_ERR_FORBIDDEN}, /* revoked identity */
		{"mallory", ALICE, KMS_ERR_FORBIDDEN},                 /* unknown client */
	};
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	size_t i;

	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		provision_req(&req, m[i].client, m[i].uri, now_period);
		kms_adapter_handle(online, &req, &rep, ntp_now());
		CU_ASSERT_EQUAL(rep.status, m[i].want);
		if (m[i].want != KMS_OK) {
			CU_ASSERT(kms_test_all_zero((const uint8_t *)&rep.u, sizeof(rep.u)));
		}
	}
	/* key periods: two ahead, one behind, far away */
	provision_req(&req, "alice", ALICE, now_period + 2);
	kms_adapter_handle(online, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	provision_req(&req, "alice", ALICE, now_period - 1);
	kms_adapter_handle(online, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	provision_req(&req, "alice", ALICE, UINT64_MAX);
	kms_adapter_handle(online, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
}

static void
test_certificate_and_health(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;

	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_CERTIFICATE;
	req.id = 9;
	kms_adapter_handle(online, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT_EQUAL(rep.id, 9);
	CU_ASSERT(memcmp(rep.u.certificate.kpak, kpak, sizeof(kpak)) == 0);
	CU_ASSERT(memcmp(rep.u.certificate.z_t, zpub, sizeof(zpub)) == 0);
	CU_ASSERT_EQUAL(rep.u.certificate.user_key_period, PERIOD);
	CU_ASSERT_STRING_EQUAL(rep.u.certificate.kms_uri, KMS_URI);
	req.op = KMS_PROTO_HEALTH;
	kms_adapter_handle(preminted, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(rep.u.health.token_present);
	CU_ASSERT_STRING_EQUAL(rep.u.health.issuer, "pre-minted");
}

static void
test_rotation(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	uint8_t new_trk[64], new_ink[64];

	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_ROTATE_KEYS;
	req.u.rotate_keys.client_id_len = 3;
	memcpy(req.u.rotate_keys.client_id, "bob", 3);
	kms_adapter_handle(online, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	/* bob unwraps his new keys with his current TrK */
	CU_ASSERT_EQUAL(client_unwrap(bob_trk, rep.u.rotate_keys.new_trk_wrapped,
				      rep.u.rotate_keys.new_trk_wrapped_len, new_trk),
			32);
	CU_ASSERT_EQUAL(client_unwrap(bob_trk, rep.u.rotate_keys.new_ink_wrapped,
				      rep.u.rotate_keys.new_ink_wrapped_len, new_ink),
			32);
	CU_ASSERT(strncmp(rep.u.rotate_keys.new_trk_id, "tk.", 3) == 0);
	/* from now on his key sets come under the new keys */
	provision_req(&req, "bob", BOB, now_period);
	kms_adapter_handle(online, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(strncmp(rep.u.provision.trk_id, "tk.", 3) == 0 &&
		  strcmp(rep.u.provision.trk_id, "tk.0.bob") != 0);
	CU_ASSERT(client_checks(&rep.u.provision, new_trk, new_ink, BOB, NULL, NULL));
	CU_ASSERT(!client_checks(&rep.u.provision, bob_trk, bob_ink, BOB, NULL, NULL));
	/* an unknown client gets nothing */
	req.op = KMS_PROTO_ROTATE_KEYS;
	req.u.rotate_keys.client_id_len = 7;
	memcpy(req.u.rotate_keys.client_id, "mallory", 8);
	kms_adapter_handle(online, &req, &rep, ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
}

/* --- the frame loop over a socketpair ------------------------------------------------------ */

struct serve_arg {
	int fd;
	int result;
};

static void *
serve_thread(void *p)
{
	struct serve_arg *arg = p;

	arg->result = kms_adapter_serve(online, arg->fd);
	close(arg->fd);
	return NULL;
}

/* 1 if any 16 consecutive octets of needle (len >= 16) appear in hay. */
static int
leaks(const uint8_t *hay, size_t hay_len, const uint8_t *needle, size_t len)
{
	size_t i, j;

	for (j = 0; j + 16 <= len; j++) {
		for (i = 0; i + 16 <= hay_len; i++) {
			if (memcmp(hay + i, needle + j, 16) == 0) {
				return 1;
			}
		}
	}
	return 0;
}

static void
test_serve_frames(void)
{
	int sv[2];
	pthread_t th;
	struct serve_arg arg;
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	static uint8_t buf[KMS_MAX_IPC];
	size_t len = 0;
	uint8_t ssk[32], rsk[257];

	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	arg.fd = sv[1];
	arg.result = 99;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, serve_thread, &arg) == 0);
	/* a good request, answered */
	provision_req(&req, "alice", ALICE, now_period);
	CU_ASSERT_EQUAL(kms_proto_encode_request(buf, sizeof(buf), &len, &req), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_frame_write(sv[0], buf, len), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_frame_read(sv[0], buf, sizeof(buf), &len), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_decode_reply(&rep, buf, len), KMS_OK);
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(client_checks(&rep.u.provision, alice_trk, alice_ink, ALICE, ssk, rsk));
	/* the reply frame carries no plaintext key */
	CU_ASSERT(!leaks(buf, len, ssk, sizeof(ssk)));
	CU_ASSERT(!leaks(buf, len, rsk, sizeof(rsk)));
	/* a refused request is answered too, and the loop goes on */
	provision_req(&req, "alice", BOB, now_period);
	CU_ASSERT_EQUAL(kms_proto_encode_request(buf, sizeof(buf), &len, &req), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_frame_write(sv[0], buf, len), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_frame_read(sv[0], buf, sizeof(buf), &len), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_decode_reply(&rep, buf, len), KMS_OK);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
	/* garbage in a frame: the adapter closes the connection (and keeps running) */
	memset(buf, 0xc1, 16); /* 0xc1 is never valid msgpack */
	CU_ASSERT_EQUAL(kms_proto_frame_write(sv[0], buf, 16), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_frame_read(sv[0], buf, sizeof(buf), &len), KMS_ERR_CLOSED);
	CU_ASSERT_EQUAL(pthread_join(th, NULL), 0);
	CU_ASSERT_NOT_EQUAL(arg.result, KMS_OK);
	close(sv[0]);

	/* an oversized frame header: closed before anything is read or allocated */
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	arg.fd = sv[1];
	CU_ASSERT_FATAL(pthread_create(&th, NULL, serve_thread, &arg) == 0);
	{
		const uint8_t huge[4] = {0x7f, 0xff, 0xff, 0xff};

		CU_ASSERT_EQUAL(write(sv[0], huge, sizeof(huge)), 4);
	}
	CU_ASSERT_EQUAL(kms_proto_frame_read(sv[0], buf, sizeof(buf), &len), KMS_ERR_CLOSED);
	CU_ASSERT_EQUAL(pthread_join(th, NULL), 0);
	CU_ASSERT_EQUAL(arg.result, KMS_ERR_TOO_LARGE);
	close(sv[0]);

	/* the adapter still serves a new connection */
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	arg.fd = sv[1];
	CU_ASSERT_FATAL(pthread_create(&th, NULL, serve_thread, &arg) == 0);
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_HEALTH;
	req.id = 1;
	CU_ASSERT_EQUAL(kms_proto_encode_request(buf, sizeof(buf), &len, &req), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_frame_write(sv[0], buf, len), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_frame_read(sv[0], buf, sizeof(buf), &len), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_decode_reply(&rep, buf, len), KMS_OK);
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	close(sv[0]); /* the peer closes cleanly: the loop ends with KMS_OK */
	CU_ASSERT_EQUAL(pthread_join(th, NULL), 0);
	CU_ASSERT_EQUAL(arg.result, KMS_OK);
}

static void
test_bad_configuration(void)
{
	struct kms_adapter *a = NULL;
	struct kms_adapter_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.store_path = tok.store_path;
	cfg.kek_label = KEK_LABEL;
	cfg.kwp = CKM_AES_KEY_WRAP_PAD;
	/* SoftHSM pads wrongly: without the host-ECB allowance the adapter refuses to serve */
	CU_ASSERT_EQUAL(kms_adapter_new(&a, tok.p11, &cfg), KMS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(a);
	cfg.allow_host_ecb = 1;
	cfg.kek_label = "no.such.kek";
	CU_ASSERT_NOT_EQUAL(kms_adapter_new(&a, tok.p11, &cfg), KMS_OK);
	cfg.kek_label = KEK_LABEL;
	cfg.store_path = "/nonexistent/kms.db";
	CU_ASSERT_NOT_EQUAL(kms_adapter_new(&a, tok.p11, &cfg), KMS_OK);
	CU_ASSERT_PTR_NULL(a);
}

static CU_TestInfo adapter_tests[] = {
	{"online issuer: a client unwraps and validates its key set", test_online_provision},
	{"pre-minted issuer: re-wrapped sets, no fallback", test_preminted_provision},
	{"entitlements and key periods", test_entitlements_and_periods},
	{"certificate and health", test_certificate_and_health},
	{"TrK/InK rotation", test_rotation},
	{"the frame loop: good, refused, bad and oversized frames", test_serve_frames},
	{"start-up refuses bad configurations", test_bad_configuration},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"adapter", suite_init, suite_cleanup, NULL, NULL, adapter_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
