/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The HSM adapter (hsm/adapter.c) against a real SoftHSM token and a real store: a
 * ceremony-like set-up (KEK in the token, master secrets and pre-minted key sets wrapped under
 * it, certificate and roster in the store), then every operation, as a client checks it: the
 * wrapped key set unwrapped with OpenSSL with the client's TrK and validated (RFC 6507 and
 * RFC 6508 client checks), the HMAC recomputed with the InK; the entitlement matrix; key
 * periods; rotation (the new keys also stored under the KEK, restorable; a rotation the store
 * refuses leaves nothing behind; the old keys destroyed when retired); response signatures
 * (SIGN) recomputed with the InK over the SignedInfo; the frame loop over a socketpair with bad
 * frames; reply frames scanned for plaintext keys.
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
#include <sqlite3.h>

#include "hsm/adapter.h"
#include "hsm/eccsi.h"
#include "hsm/sakke.h"
#include "hsm/uid.h"
#include "proto/frame.h"
#include "proto/signedinfo.h"
#include "proto/store.h"
#include "tests/unit/kms_test.h"
#include "tools/devdomain.h"

#include "common/banned.h"

#define KMS_URI   KMS_DEV_KMS_URI
#define PERIOD    KMS_DEV_PERIOD
#define KEK_LABEL KMS_DEV_KEK
#define ALICE     KMS_DEV_ALICE
#define BOB       KMS_DEV_BOB

static struct kms_devdomain dom;
static struct kms_adapter *online;
static struct kms_adapter *preminted;

/* The test domain's adapter configuration for issuer (SoftHSM: the host-ECB wrap allowed). */
static void
adapter_cfg(struct kms_adapter_config *cfg, enum kms_issuer issuer)
{
	kms_devdomain_adapter_cfg(cfg, dom.tok.store_path, CKM_AES_KEY_WRAP_PAD, issuer);
}

static int
suite_init(void)
{
	struct kms_adapter_config cfg;

	if (kms_devdomain_new(&dom, "kms-adapter-test") != 0) {
		return 1;
	}
	adapter_cfg(&cfg, KMS_ISSUER_ONLINE);
	if (kms_adapter_new(&online, dom.tok.p11, &cfg) != KMS_OK) {
		return 1;
	}
	cfg.issuer = KMS_ISSUER_PREMINTED;
	return kms_adapter_new(&preminted, dom.tok.p11, &cfg) == KMS_OK ? 0 : 1;
}

static int
suite_cleanup(void)
{
	kms_adapter_free(online);
	kms_adapter_free(preminted);
	online = preminted = NULL;
	return kms_devdomain_free(&dom) == 0 ? 0 : 1;
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

static void
test_online_provision(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;

	provision_req(&req, "alice", ALICE, dom.now_period);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT_EQUAL(rep.id, 7);
	CU_ASSERT_STRING_EQUAL(rep.u.provision.trk_id, "tk.0.alice");
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk, dom.alice_ink,
					      ALICE, NULL, NULL));
	/* with bob's keys, nothing checks */
	CU_ASSERT(!kms_devdomain_client_checks(&dom, &rep.u.provision, dom.bob_trk, dom.bob_ink,
					       ALICE, NULL, NULL));
	/* the next period too */
	provision_req(&req, "alice", ALICE, dom.now_period + 1);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk, dom.alice_ink,
					      ALICE, NULL, NULL));
}

static void
test_preminted_provision(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	uint8_t ssk1[32], ssk2[32], rsk1[257], rsk2[257];

	provision_req(&req, "alice", ALICE, dom.now_period);
	kms_adapter_handle(preminted, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk, dom.alice_ink,
					      ALICE, ssk1, rsk1));
	/* the same set every time (it was minted once), unlike the online issuer's SSK */
	kms_adapter_handle(preminted, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk, dom.alice_ink,
					      ALICE, ssk2, rsk2));
	CU_ASSERT(memcmp(ssk1, ssk2, 32) == 0 && memcmp(rsk1, rsk2, 257) == 0);
	/* a set the store lacks is an error, never computed on the fly */
	provision_req(&req, "alice", ALICE, dom.now_period + 1);
	kms_adapter_handle(preminted, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&rep.u, sizeof(rep.u)));
	provision_req(&req, "bob", BOB, dom.now_period);
	kms_adapter_handle(preminted, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
}

/* A plain reply (plaintext_clients) as its client checks it: the keys valid for uri's UID. */
static int
plain_checks(const struct kms_proto_provision_rep *p, const char *uri)
{
	static const uint8_t zero[KMS_PROTO_HMAC_LEN];
	uint8_t uid[KMS_UID_LEN];

	return p->plain && p->trk_id_len == 0 && p->rsk_wrapped_len == 257 &&
	       p->ssk_wrapped_len == 32 && p->pvt_wrapped_len == 65 &&
	       memcmp(p->hmac, zero, sizeof(zero)) == 0 &&
	       kms_uid_compute(uid, uri, strlen(uri), KMS_URI, strlen(KMS_URI), PERIOD, 0,
			       p->key_period) == KMS_OK &&
	       memcmp(uid, p->user_id, sizeof(uid)) == 0 &&
	       kms_eccsi_validate(dom.kpak, uid, sizeof(uid), p->ssk_wrapped, p->pvt_wrapped) ==
		       KMS_OK &&
	       kms_sakke_validate(dom.zpub, uid, sizeof(uid), p->rsk_wrapped) == KMS_OK;
}

/*
 * plaintext_clients: alice, named there, gets her sets unwrapped from both issuers (pre-minted:
 * the very set the wrapped reply carries), except where kmsd says it cannot send them (no_plain);
 * bob, not named, still gets his wrapped; a bad list stops the start.
 */
static void
test_plaintext_client(void)
{
	static const char *const plain_ids[] = {"alice"};
	static const char *const bad_ids[] = {"ali ce"};
	struct kms_adapter *on = NULL, *pre = NULL, *bad = NULL;
	struct kms_adapter_config cfg;
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	uint8_t ssk[32], rsk[257];

	adapter_cfg(&cfg, KMS_ISSUER_ONLINE);
	cfg.plaintext_clients = plain_ids;
	cfg.num_plaintext_clients = 1;
	CU_ASSERT_EQUAL_FATAL(kms_adapter_new(&on, dom.tok.p11, &cfg), KMS_OK);
	cfg.issuer = KMS_ISSUER_PREMINTED;
	CU_ASSERT_EQUAL_FATAL(kms_adapter_new(&pre, dom.tok.p11, &cfg), KMS_OK);

	provision_req(&req, "alice", ALICE, dom.now_period);
	kms_adapter_handle(on, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(plain_checks(&rep.u.provision, ALICE));
	/* the pre-minted set, as the wrapped reply of the usual adapter carries it */
	kms_adapter_handle(preminted, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(!rep.u.provision.plain);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk, dom.alice_ink,
					      ALICE, ssk, rsk));
	kms_adapter_handle(pre, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(plain_checks(&rep.u.provision, ALICE));
	CU_ASSERT_EQUAL(memcmp(rep.u.provision.ssk_wrapped, ssk, 32), 0);
	CU_ASSERT_EQUAL(memcmp(rep.u.provision.rsk_wrapped, rsk, 257), 0);
	/* kmsd could not send it (HTTP/2: no_plain): refused before anything is made; a client
	 * whose set is wrapped is served as ever */
	req.u.provision.no_plain = true;
	kms_adapter_handle(pre, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_PLAIN_REFUSED);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&rep.u, sizeof(rep.u)));
	kms_adapter_handle(on, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_PLAIN_REFUSED);
	provision_req(&req, "bob", BOB, dom.now_period);
	req.u.provision.no_plain = true;
	kms_adapter_handle(on, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(!rep.u.provision.plain);
	/* entitlements are checked as for anyone */
	provision_req(&req, "alice", BOB, dom.now_period);
	kms_adapter_handle(on, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&rep.u, sizeof(rep.u)));
	/* bob is not named: wrapped under his TrK */
	provision_req(&req, "bob", BOB, dom.now_period);
	kms_adapter_handle(on, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(!rep.u.provision.plain);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.bob_trk, dom.bob_ink, BOB,
					      NULL, NULL));
	kms_adapter_free(on);
	kms_adapter_free(pre);

	/* a name that is no client id, or too many names: no adapter */
	cfg.plaintext_clients = bad_ids;
	CU_ASSERT_EQUAL(kms_adapter_new(&bad, dom.tok.p11, &cfg), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(bad);
	cfg.plaintext_clients = plain_ids;
	cfg.num_plaintext_clients = KMS_ADAPTER_MAX_PLAINTEXT + 1;
	CU_ASSERT_EQUAL(kms_adapter_new(&bad, dom.tok.p11, &cfg), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(bad);
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
		provision_req(&req, m[i].client, m[i].uri, dom.now_period);
		kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
		CU_ASSERT_EQUAL(rep.status, m[i].want);
		if (m[i].want != KMS_OK) {
			CU_ASSERT(kms_test_all_zero((const uint8_t *)&rep.u, sizeof(rep.u)));
		}
	}
	/* key periods: two ahead, one behind, far away */
	provision_req(&req, "alice", ALICE, dom.now_period + 2);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	provision_req(&req, "alice", ALICE, dom.now_period - 1);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	provision_req(&req, "alice", ALICE, UINT64_MAX);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
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
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT_EQUAL(rep.id, 9);
	CU_ASSERT(memcmp(rep.u.certificate.kpak, dom.kpak, sizeof(dom.kpak)) == 0);
	CU_ASSERT(memcmp(rep.u.certificate.z_t, dom.zpub, sizeof(dom.zpub)) == 0);
	CU_ASSERT_EQUAL(rep.u.certificate.user_key_period, PERIOD);
	CU_ASSERT_STRING_EQUAL(rep.u.certificate.kms_uri, KMS_URI);
	req.op = KMS_PROTO_HEALTH;
	kms_adapter_handle(preminted, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(rep.u.health.token_present);
	CU_ASSERT_STRING_EQUAL(rep.u.health.issuer, "pre-minted");
}

/* The client_keys rows of the store, as kms_store_client_key_list passes them on. */
#define MAX_CKEYS 16
struct ckeys {
	size_t num;
	struct {
		char label[KMS_STORE_MAX_ID + 1];
		int ink;
		struct kms_store_blob wrapped;
	} k[MAX_CKEYS];
};

static int
collect_ckey(void *ctx, const char *label, int ink, const struct kms_store_blob *wrapped)
{
	struct ckeys *c = ctx;

	if (c->num >= MAX_CKEYS) {
		return KMS_ERR_TOO_LARGE;
	}
	snprintf(c->k[c->num].label, sizeof(c->k[0].label), "%s", label);
	c->k[c->num].ink = ink;
	c->k[c->num].wrapped = *wrapped;
	c->num++;
	return KMS_OK;
}

/* Whether keys holds a key labelled label. */
static int
ckeys_has(const struct ckeys *keys, const char *label)
{
	size_t i;

	for (i = 0; i < keys->num; i++) {
		if (strcmp(keys->k[i].label, label) == 0) {
			return 1;
		}
	}
	return 0;
}

/* Whether the token holds one secret-key token object labelled label. */
static int
token_has(const char *label)
{
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
	int r;

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	r = kms_keys_find(s, &h, label);
	kms_p11_return(s);
	CU_ASSERT(r == KMS_OK || r == KMS_ERR_INVALID_ARG);
	return r == KMS_OK;
}

/* The store's client row of client_id and its client_keys, from the test's own connection. */
static void
store_state(const char *client_id, struct kms_store_client *client, struct ckeys *keys)
{
	struct kms_store *st = NULL;

	memset(keys, 0, sizeof(*keys));
	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, dom.tok.store_path, KMS_STORE_RO), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_get_client(st, client_id, client), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_client_key_list(st, collect_ckey, keys), KMS_OK);
	kms_store_close(st);
}

/* Whether client_id has a pending rotation (then in *rot), from the test's own connection. */
static int
pending_rotation(const char *client_id, struct kms_store_rotation *rot)
{
	struct kms_store *st = NULL;
	int found = -1;

	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, dom.tok.store_path, KMS_STORE_RO), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_get_rotation(st, client_id, rot, &found), KMS_OK);
	kms_store_close(st);
	return found;
}

/* The index of label in keys, or -1. */
static int
ckey_find(const struct ckeys *keys, const char *label)
{
	size_t i;

	for (i = 0; i < keys->num; i++) {
		if (strcmp(keys->k[i].label, label) == 0) {
			return (int)i;
		}
	}
	return -1;
}

/* The number of secret-key token objects in the token. */
static unsigned long
count_secret_keys(struct kms_p11_session *s)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_BBOOL yes = CK_TRUE;
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_TOKEN, &yes, sizeof(yes)},
	};
	CK_OBJECT_HANDLE found[64];
	CK_ULONG num = 0, total = 0;
	CK_FUNCTION_LIST *f = kms_p11_fn(s);

	CU_ASSERT_EQUAL_FATAL(f->C_FindObjectsInit(kms_p11_handle(s), tmpl, 2), CKR_OK);
	do {
		CU_ASSERT_EQUAL(f->C_FindObjects(kms_p11_handle(s), found, 64, &num), CKR_OK);
		total += num;
	} while (num == 64);
	CU_ASSERT_EQUAL(f->C_FindObjectsFinal(kms_p11_handle(s)), CKR_OK);
	return total;
}

/*
 * What `kms-ceremony restore` does with a client_keys row (kms_cer_import_key), here as a
 * session object of the same token (the rotated key of that label is in it already): C_UnwrapKey
 * of the blob under the KEK with the template of the role. *out the restored key.
 */
static void
restore_key(struct kms_p11_session *s, const struct kms_wrap_policy *pol, CK_OBJECT_HANDLE kek,
	    enum kms_key_role role, const char *label, const struct kms_store_blob *blob,
	    CK_OBJECT_HANDLE *out)
{
	struct kms_keys_tmpl t;
	CK_MECHANISM mech = {pol->kwp, NULL, 0};
	CK_RV rv;

	*out = CK_INVALID_HANDLE;
	CU_ASSERT_EQUAL_FATAL(kms_keys_template(&t, role, label, pol, 0, 1, 1), KMS_OK);
	rv = kms_p11_fn(s)->C_UnwrapKey(kms_p11_handle(s), &mech, kek,
					(CK_BYTE_PTR)(uintptr_t)blob->data, (CK_ULONG)blob->len,
					t.attrs, t.num_attrs, out);
	CU_ASSERT_EQUAL(rv, CKR_OK);
}

/*
 * The rotated keys in the store: a pending rotation names them (the client row does not, yet)
 * with the client's copies of the reply, client_keys holds both under the KEK, and each blob,
 * restored as a new object, is the rotated key: the restored InK computes the rotated InK's HMAC
 * (and the client's), the restored TrK wraps exactly as the rotated TrK (and the client unwraps).
 * The rotated keys in the token are locked. new_trk and new_ink are the values the client unwrapped
 * from the reply.
 */
static void
check_rotated_in_store(const struct kms_proto_rotate_keys_rep *rr, const uint8_t new_trk[32],
		       const uint8_t new_ink[32], const struct kms_store_client *before_client,
		       const struct ckeys *before)
{
	static const uint8_t msg[] = "<SignedInfo>rotated keys restore</SignedInfo>";
	static const size_t lens[] = {32, 65};
	struct kms_wrap_policy pol = {CKM_AES_KEY_WRAP_PAD, kms_adapter_wrap_mode(online)};
	struct kms_store_client c;
	struct ckeys keys;
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE kek, trk, ink, r_trk = CK_INVALID_HANDLE, r_ink = CK_INVALID_HANDLE;
	uint8_t mac1[32], mac2[32], want[32], data[65], b1[KMS_WRAP_MAX_BLOB],
		b2[KMS_WRAP_MAX_BLOB];
	uint8_t back[KMS_WRAP_MAX_BLOB];
	unsigned int want_len = 0;
	size_t i, l1 = 0, l2 = 0;
	int it, ii, v = -1;

	store_state("bob", &c, &keys);
	/* pending: the client row still names the keys it had */
	CU_ASSERT_STRING_EQUAL(c.trk_label, before_client->trk_label);
	CU_ASSERT_STRING_EQUAL(c.ink_label, before_client->ink_label);
	{
		struct kms_store_rotation rot;

		CU_ASSERT_FATAL(pending_rotation("bob", &rot) == 1);
		CU_ASSERT_STRING_EQUAL(rot.from_trk_label, before_client->trk_label);
		CU_ASSERT_STRING_EQUAL(rot.new_trk_label, rr->new_trk_id);
		CU_ASSERT_STRING_EQUAL(rot.new_ink_label, rr->new_ink_id);
		CU_ASSERT(rot.new_trk.len == rr->new_trk_wrapped_len &&
			  memcmp(rot.new_trk.data, rr->new_trk_wrapped, rot.new_trk.len) == 0);
		CU_ASSERT(rot.new_ink.len == rr->new_ink_wrapped_len &&
			  memcmp(rot.new_ink.data, rr->new_ink_wrapped, rot.new_ink.len) == 0);
	}
	/* two rows more than before, nothing else changed */
	CU_ASSERT_EQUAL_FATAL(keys.num, before->num + 2);
	for (i = 0; i < before->num; i++) {
		int j = ckey_find(&keys, before->k[i].label);

		CU_ASSERT_FATAL(j >= 0);
		CU_ASSERT(keys.k[j].wrapped.len == before->k[i].wrapped.len &&
			  memcmp(keys.k[j].wrapped.data, before->k[i].wrapped.data,
				 before->k[i].wrapped.len) == 0);
	}
	it = ckey_find(&keys, rr->new_trk_id);
	ii = ckey_find(&keys, rr->new_ink_id);
	CU_ASSERT_FATAL(it >= 0 && ii >= 0);
	CU_ASSERT_EQUAL(keys.k[it].ink, 0);
	CU_ASSERT_EQUAL(keys.k[ii].ink, 1);
	CU_ASSERT_EQUAL(keys.k[it].wrapped.len, 40);
	CU_ASSERT_EQUAL(keys.k[ii].wrapped.len, 40);

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_keys_find(s, &kek, KEK_LABEL), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_keys_find(s, &trk, rr->new_trk_id), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_keys_find(s, &ink, rr->new_ink_id), KMS_OK);
	/* the rotated keys end locked, like the ceremony's */
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, trk, CKA_EXTRACTABLE), KMS_OK);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, ink, CKA_EXTRACTABLE), KMS_OK);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, trk, CKA_SENSITIVE), KMS_OK);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, ink, CKA_SENSITIVE), KMS_OK);
	CU_ASSERT_EQUAL(v, 1);

	restore_key(s, &pol, kek, KMS_KEY_TRK, rr->new_trk_id, &keys.k[it].wrapped, &r_trk);
	restore_key(s, &pol, kek, KMS_KEY_INK, rr->new_ink_id, &keys.k[ii].wrapped, &r_ink);
	/* the InK: the same HMAC from the token's key, the restored one and the client */
	CU_ASSERT_EQUAL(kms_hmac_sha256(s, ink, msg, sizeof(msg) - 1, mac1), KMS_OK);
	CU_ASSERT_EQUAL(kms_hmac_sha256(s, r_ink, msg, sizeof(msg) - 1, mac2), KMS_OK);
	CU_ASSERT_PTR_NOT_NULL(
		HMAC(EVP_sha256(), new_ink, 32, msg, sizeof(msg) - 1, want, &want_len));
	CU_ASSERT(memcmp(mac1, want, 32) == 0);
	CU_ASSERT(memcmp(mac2, want, 32) == 0);
	/* the TrK: RFC 5649 is deterministic, so both wrap alike, and the client unwraps */
	for (i = 0; i < sizeof(data); i++) {
		data[i] = (uint8_t)(i * 7 + 1);
	}
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, trk, data, lens[i], b1, sizeof(b1), &l1),
				KMS_OK);
		CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, r_trk, data, lens[i], b2, sizeof(b2), &l2),
				KMS_OK);
		CU_ASSERT(l1 == l2 && l1 > 0 && memcmp(b1, b2, l1) == 0);
		CU_ASSERT_EQUAL(kms_devdomain_client_unwrap(new_trk, b2, l2, back), lens[i]);
		CU_ASSERT(memcmp(back, data, lens[i]) == 0);
	}
	/* a blob that is not the KEK's does not restore */
	{
		struct kms_store_blob bad = keys.k[it].wrapped;
		CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
		struct kms_keys_tmpl t;
		CK_MECHANISM mech = {pol.kwp, NULL, 0};

		bad.data[5] ^= 0x01;
		CU_ASSERT_EQUAL_FATAL(kms_keys_template(&t, KMS_KEY_TRK, "x", &pol, 0, 1, 1),
				      KMS_OK);
		CU_ASSERT_NOT_EQUAL(kms_p11_fn(s)->C_UnwrapKey(kms_p11_handle(s), &mech, kek,
							       bad.data, (CK_ULONG)bad.len, t.attrs,
							       t.num_attrs, &h),
				    CKR_OK);
	}
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, r_trk), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, r_ink), KMS_OK);
	kms_p11_return(s);
}

/* Holds the store's write lock (BEGIN IMMEDIATE) until released, as a stuck writer would. */
static sqlite3 *
store_lock(void)
{
	sqlite3 *db = NULL;

	CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(dom.tok.store_path, &db, SQLITE_OPEN_READWRITE, NULL),
			      SQLITE_OK);
	CU_ASSERT_EQUAL_FATAL(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	return db;
}

static void
store_unlock(sqlite3 *db)
{
	CU_ASSERT_EQUAL(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_close(db), SQLITE_OK);
}

/* A ROTATE_KEYS request for client. */
static void
rotate_req(struct kms_proto_request *req, const char *client)
{
	memset(req, 0, sizeof(*req));
	req->op = KMS_PROTO_ROTATE_KEYS;
	req->u.rotate_keys.client_id_len = strlen(client);
	memcpy(req->u.rotate_keys.client_id, client, req->u.rotate_keys.client_id_len);
}

/* A VERIFY request of client for key_id: HMAC-SHA256 of si under key (NULL: a wrong one). */
static void
verify_req(struct kms_proto_request *req, const char *client, const char *key_id,
	   const uint8_t *key, const char *si)
{
	unsigned int len = 0;

	memset(req, 0, sizeof(*req));
	req->op = KMS_PROTO_VERIFY;
	req->id = 12;
	req->u.verify.client_id_len = strlen(client);
	memcpy(req->u.verify.client_id, client, req->u.verify.client_id_len);
	req->u.verify.key_id_len = strlen(key_id);
	memcpy(req->u.verify.key_id, key_id, req->u.verify.key_id_len);
	req->u.verify.signed_info_len = strlen(si);
	memcpy(req->u.verify.signed_info, si, req->u.verify.signed_info_len);
	if (key != NULL) {
		CU_ASSERT_PTR_NOT_NULL(HMAC(EVP_sha256(), key, 32, (const uint8_t *)si, strlen(si),
					    req->u.verify.signature, &len));
	} else {
		memset(req->u.verify.signature, 0x5a, sizeof(req->u.verify.signature));
	}
}

/*
 * Another node of the domain (the same store and KEK, its own token) whose token lacks bob's
 * rotated keys: its kms-hsmd imports them from the store's client_keys under the KEK, as session
 * objects, and serves bob under them (a fresh adapter, whose cache is empty, on a token without
 * them). A client whose key is in neither the token nor the store is refused.
 */
static void
check_other_node(const struct kms_proto_rotate_keys_rep *rr, const uint8_t new_trk[32],
		 const uint8_t new_ink[32])
{
	static const char si[] = "<ds:SignedInfo>bob on another node</ds:SignedInfo>";
	struct kms_adapter_config cfg;
	struct kms_adapter *other = NULL;
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	struct kms_p11_session *s = NULL;
	struct kms_store *st = NULL;
	struct kms_store_client ghost;
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	/* the token loses bob's new keys (they stay in client_keys) */
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_keys_find(s, &h, rr->new_trk_id), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, h), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_keys_find(s, &h, rr->new_ink_id), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, h), KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_find(s, &h, rr->new_trk_id), KMS_ERR_INVALID_ARG);
	kms_p11_return(s);

	adapter_cfg(&cfg, KMS_ISSUER_ONLINE);
	CU_ASSERT_EQUAL_FATAL(kms_adapter_new(&other, dom.tok.p11, &cfg), KMS_OK);
	provision_req(&req, "bob", BOB, dom.now_period);
	kms_adapter_handle(other, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT_STRING_EQUAL(rep.u.provision.trk_id, rr->new_trk_id);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, new_trk, new_ink, BOB, NULL,
					      NULL));
	verify_req(&req, "bob", rr->new_ink_id, new_ink, si);
	kms_adapter_handle(other, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	/* still no token object: the imports are session objects */
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_find(s, &h, rr->new_trk_id), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_keys_find(s, &h, rr->new_ink_id), KMS_ERR_INVALID_ARG);
	kms_p11_return(s);

	/* a client whose keys are in neither: refused */
	memset(&ghost, 0, sizeof(ghost));
	snprintf(ghost.client_id, sizeof(ghost.client_id), "ghost");
	ghost.cls = KMS_CLIENT_UE;
	snprintf(ghost.trk_label, sizeof(ghost.trk_label), "tk.nowhere.ghost");
	snprintf(ghost.ink_label, sizeof(ghost.ink_label), "ik.nowhere.ghost");
	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, dom.tok.store_path, KMS_STORE_RW), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_put_client(st, &ghost), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_entitle(st, "ghost", ALICE), KMS_OK);
	kms_store_close(st);
	provision_req(&req, "ghost", ALICE, dom.now_period);
	kms_adapter_handle(other, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
	kms_adapter_free(other);
}

/*
 * ROTATE_KEYS makes a pending rotation: bob gets his new keys under his current TrK, keeps being
 * served under the old ones, cannot have a second rotation meanwhile; a VERIFY by the new InK
 * finishes it (a VERIFY by the old InK, a wrong HMAC or an unknown key does not), and from then on
 * his key sets come under the new keys. A rotation the store cannot record leaves nothing behind.
 */
static void
test_rotation(void)
{
	static const char si[] = "<ds:SignedInfo>a request of bob</ds:SignedInfo>";
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	struct kms_proto_rotate_keys_rep rr;
	struct kms_store_client c0, c1;
	struct kms_store_rotation rot;
	struct ckeys keys0, keys1;
	struct kms_p11_session *s = NULL;
	unsigned long num0;
	uint8_t new_trk[64], new_ink[64];
	sqlite3 *db;

	store_state("bob", &c0, &keys0);
	rotate_req(&req, "bob");
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	rr = rep.u.rotate_keys;
	/* bob unwraps his new keys with his current TrK */
	CU_ASSERT_EQUAL(kms_devdomain_client_unwrap(dom.bob_trk, rr.new_trk_wrapped,
						    rr.new_trk_wrapped_len, new_trk),
			32);
	CU_ASSERT_EQUAL(kms_devdomain_client_unwrap(dom.bob_trk, rr.new_ink_wrapped,
						    rr.new_ink_wrapped_len, new_ink),
			32);
	CU_ASSERT(strncmp(rr.new_trk_id, "tk.", 3) == 0);
	CU_ASSERT(strncmp(rr.new_ink_id, "ik.", 3) == 0);
	/* pending, and the store can restore both into another token (issue 5) */
	check_rotated_in_store(&rr, new_trk, new_ink, &c0, &keys0);
	/* until bob proves the new InK, his key sets come under his old keys */
	provision_req(&req, "bob", BOB, dom.now_period);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT_STRING_EQUAL(rep.u.provision.trk_id, c0.trk_label);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.bob_trk, dom.bob_ink, BOB,
					      NULL, NULL));
	/* a second rotation while one is pending: refused, nothing new in the token */
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	num0 = count_secret_keys(s);
	kms_p11_return(s);
	s = NULL;
	rotate_req(&req, "bob");
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_AUTH);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(count_secret_keys(s), num0);
	kms_p11_return(s);
	s = NULL;

	/* VERIFY: the current InK's signature is good and finishes nothing */
	verify_req(&req, "bob", c0.ink_label, dom.bob_ink, si);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(!rep.u.verify.rotated);
	/* a wrong HMAC by either InK, a key of nobody, another client's InK: KMS_ERR_AUTH */
	verify_req(&req, "bob", c0.ink_label, NULL, si);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_AUTH);
	verify_req(&req, "bob", rr.new_ink_id, dom.bob_ink, si);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_AUTH);
	verify_req(&req, "bob", "ik.nobody", new_ink, si);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_AUTH);
	verify_req(&req, "alice", rr.new_ink_id, new_ink, si);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_AUTH);
	verify_req(&req, "mallory", c0.ink_label, dom.bob_ink, si);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
	store_state("bob", &c1, &keys1);
	CU_ASSERT(memcmp(&c0, &c1, sizeof(c0)) == 0);
	CU_ASSERT_EQUAL(pending_rotation("bob", &rot), 1);

	/* the new InK's signature: the proof; the rotation is finished */
	verify_req(&req, "bob", rr.new_ink_id, new_ink, si);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(rep.u.verify.rotated);
	store_state("bob", &c1, &keys1);
	CU_ASSERT_STRING_EQUAL(c1.trk_label, rr.new_trk_id);
	CU_ASSERT_STRING_EQUAL(c1.ink_label, rr.new_ink_id);
	CU_ASSERT_EQUAL(pending_rotation("bob", &rot), 0);
	/* his old TrK and InK are retired: out of client_keys, and destroyed in the token now */
	CU_ASSERT(!ckeys_has(&keys1, c0.trk_label));
	CU_ASSERT(!ckeys_has(&keys1, c0.ink_label));
	CU_ASSERT(ckeys_has(&keys1, rr.new_trk_id));
	CU_ASSERT(ckeys_has(&keys1, rr.new_ink_id));
	CU_ASSERT(!token_has(c0.trk_label));
	CU_ASSERT(!token_has(c0.ink_label));
	CU_ASSERT(token_has(rr.new_trk_id));
	CU_ASSERT(token_has(rr.new_ink_id));
	/* the old InK is no longer bob's: its signature is refused now */
	verify_req(&req, "bob", c0.ink_label, dom.bob_ink, si);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_AUTH);
	/* from now on his key sets come under the new keys */
	provision_req(&req, "bob", BOB, dom.now_period);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT_STRING_EQUAL(rep.u.provision.trk_id, rr.new_trk_id);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, new_trk, new_ink, BOB, NULL,
					      NULL));
	CU_ASSERT(!kms_devdomain_client_checks(&dom, &rep.u.provision, dom.bob_trk, dom.bob_ink,
					       BOB, NULL, NULL));
	check_other_node(&rr, new_trk, new_ink);
	/*
	 * A rotation the store cannot record (its write lock held past the busy timeout) fails
	 * as a whole: the client row and client_keys as they were, no pending rotation, no new key
	 * left in the token, no key material in the reply.
	 */
	store_state("bob", &c0, &keys0);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	num0 = count_secret_keys(s);
	kms_p11_return(s);
	s = NULL;
	rotate_req(&req, "bob");
	db = store_lock();
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	store_unlock(db);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_IO);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&rep.u, sizeof(rep.u)));
	store_state("bob", &c1, &keys1);
	CU_ASSERT(memcmp(&c0, &c1, sizeof(c0)) == 0);
	CU_ASSERT(memcmp(&keys0, &keys1, sizeof(keys0)) == 0);
	CU_ASSERT_EQUAL(pending_rotation("bob", &rot), 0);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(count_secret_keys(s), num0);
	kms_p11_return(s);
	/* an unknown client gets nothing */
	rotate_req(&req, "mallory");
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
}

/*
 * Rotations finished out of band (kms-admin finish-rotation: the store only) leave the old keys
 * in the token until a kms-hsmd starts; a new adapter destroys them, and only them: not the KEK
 * nor a client's current key, even when the store says they are retired (kmsd's user can write
 * the file); the next start finds nothing more to do.
 */
static void
test_retired_purged_at_start(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	struct kms_adapter_config cfg;
	struct kms_adapter *other = NULL;
	struct kms_store_client c0, c1;
	struct kms_store *st = NULL;
	struct kms_p11_session *s = NULL;
	static struct ckeys keys;
	unsigned long num;
	char sql[512];
	sqlite3 *db = NULL;
	int i;

	/* two rotations of bob, each finished by the store alone: the first one's keys retired */
	for (i = 0; i < 2; i++) {
		rotate_req(&req, "bob");
		kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
		CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
		CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, dom.tok.store_path, KMS_STORE_RW),
				      KMS_OK);
		CU_ASSERT_EQUAL(kms_store_finish_rotation(st, "bob", rep.u.rotate_keys.new_ink_id),
				KMS_OK);
		kms_store_close(st);
		store_state("bob", i == 0 ? &c0 : &c1, &keys);
	}
	CU_ASSERT_STRING_EQUAL(c1.trk_label, rep.u.rotate_keys.new_trk_id);
	CU_ASSERT(!ckeys_has(&keys, c0.trk_label));
	CU_ASSERT(!ckeys_has(&keys, c0.ink_label));
	CU_ASSERT(token_has(c0.trk_label));
	CU_ASSERT(token_has(c0.ink_label));
	/* the file says the KEK and alice's TrK are retired too, past the store's code */
	CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(dom.tok.store_path, &db, SQLITE_OPEN_READWRITE, NULL),
			      SQLITE_OK);
	snprintf(sql, sizeof(sql), "INSERT INTO retired_keys VALUES ('%s', 1), ('tk.0.alice', 1)",
		 KEK_LABEL);
	CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);

	/* a kms-hsmd starts */
	adapter_cfg(&cfg, KMS_ISSUER_ONLINE);
	CU_ASSERT_EQUAL_FATAL(kms_adapter_new(&other, dom.tok.p11, &cfg), KMS_OK);
	CU_ASSERT(!token_has(c0.trk_label));
	CU_ASSERT(!token_has(c0.ink_label));
	CU_ASSERT(token_has(c1.trk_label));
	CU_ASSERT(token_has(c1.ink_label));
	CU_ASSERT(token_has(KEK_LABEL));
	CU_ASSERT(token_has("tk.0.alice"));
	provision_req(&req, "alice", ALICE, dom.now_period);
	kms_adapter_handle(other, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk, dom.alice_ink,
					      ALICE, NULL, NULL));
	kms_adapter_free(other);
	other = NULL;

	/* the next start: nothing left to destroy */
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	num = count_secret_keys(s);
	kms_p11_return(s);
	s = NULL;
	CU_ASSERT_EQUAL_FATAL(kms_adapter_new(&other, dom.tok.p11, &cfg), KMS_OK);
	kms_adapter_free(other);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(count_secret_keys(s), num);
	kms_p11_return(s);
	snprintf(sql, sizeof(sql), "DELETE FROM retired_keys WHERE label IN ('%s', 'tk.0.alice')",
		 KEK_LABEL);
	CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_close(db), SQLITE_OK);
}

/*
 * With more retired labels than the token holds client keys (the list only grows), the start
 * lists the token's client keys once instead of searching every label: the retired key that is
 * there goes, the KEK (no client key: it can unwrap) and a key in use stay, whatever the file
 * says; the log says which way it looked.
 */
static void
test_retired_purged_by_listing(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	struct kms_adapter_config cfg;
	struct kms_adapter *other = NULL;
	struct kms_store_client before, after;
	struct kms_store *st = NULL;
	static struct ckeys keys;
	static char logbuf[65536];
	char sql[512], logdir[300], logpath[400];
	sqlite3 *db = NULL;
	int i, fd;

	store_state("bob", &before, &keys);
	rotate_req(&req, "bob");
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, dom.tok.store_path, KMS_STORE_RW), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_finish_rotation(st, "bob", rep.u.rotate_keys.new_ink_id), KMS_OK);
	kms_store_close(st);
	store_state("bob", &after, &keys);
	CU_ASSERT(token_has(before.trk_label));
	/* 300 retired labels no token holds, and the KEK and alice's TrK, past the store's code */
	CU_ASSERT_EQUAL_FATAL(sqlite3_open_v2(dom.tok.store_path, &db, SQLITE_OPEN_READWRITE, NULL),
			      SQLITE_OK);
	for (i = 0; i < 300; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO retired_keys VALUES ('tk.gone.%d', 1)", i);
		CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
	}
	snprintf(sql, sizeof(sql), "INSERT INTO retired_keys VALUES ('%s', 1), ('tk.0.alice', 1)",
		 KEK_LABEL);
	CU_ASSERT_EQUAL(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);

	CU_ASSERT_FATAL(kms_test_tmpdir(logdir, sizeof(logdir), "adapter-purge") == 0);
	snprintf(logpath, sizeof(logpath), "%s/log", logdir);
	fd = kms_test_log_capture(logpath, "test_adapter");
	CU_ASSERT_FATAL(fd >= 0);
	adapter_cfg(&cfg, KMS_ISSUER_ONLINE);
	CU_ASSERT_EQUAL(kms_adapter_new(&other, dom.tok.p11, &cfg), KMS_OK);
	(void)kms_test_read_fd(fd, logbuf, sizeof(logbuf));
	kms_test_log_release(fd);
	(void)unlink(logpath);
	(void)rmdir(logdir);
	CU_ASSERT_PTR_NOT_NULL(strstr(logbuf, "retired client keys: looked for among the token's"));
	CU_ASSERT_PTR_NULL(strstr(logbuf, "looked for one by one"));
	CU_ASSERT(!token_has(before.trk_label));
	CU_ASSERT(!token_has(before.ink_label));
	CU_ASSERT(token_has(after.trk_label));
	CU_ASSERT(token_has(after.ink_label));
	CU_ASSERT(token_has(KEK_LABEL));
	CU_ASSERT(token_has("tk.0.alice"));
	if (other != NULL) {
		provision_req(&req, "alice", ALICE, dom.now_period);
		kms_adapter_handle(other, &req, &rep, kms_devdomain_ntp_now());
		CU_ASSERT_EQUAL(rep.status, KMS_OK);
	}
	kms_adapter_free(other);
	CU_ASSERT_EQUAL(sqlite3_exec(db,
				     "DELETE FROM retired_keys WHERE label LIKE 'tk.gone.%' OR "
				     "label = 'tk.0.alice' OR label = '" KEK_LABEL "'",
				     NULL, NULL, NULL),
			SQLITE_OK);
	CU_ASSERT_EQUAL(sqlite3_close(db), SQLITE_OK);
}

/* --- SIGN ---------------------------------------------------------------------------------- */

static void
sign_req(struct kms_proto_request *req, const char *client, const uint8_t digest[32])
{
	memset(req, 0, sizeof(*req));
	req->op = KMS_PROTO_SIGN;
	req->id = 11;
	req->u.sign.client_id_len = strlen(client);
	memcpy(req->u.sign.client_id, client, req->u.sign.client_id_len);
	memcpy(req->u.sign.digest, digest, KMS_PROTO_DIGEST_LEN);
}

/* What the client computes: HMAC-SHA256 under its InK of the SignedInfo of digest. */
static void
client_signature(uint8_t out[32], const uint8_t ink[32], const uint8_t digest[32])
{
	char si[KMS_SIGNEDINFO_LEN];
	size_t si_len = 0;
	unsigned int len = 0;

	CU_ASSERT_EQUAL_FATAL(kms_signedinfo_build(si, sizeof(si), &si_len, digest), KMS_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(
		HMAC(EVP_sha256(), ink, 32, (const uint8_t *)si, si_len, out, &len));
	CU_ASSERT_EQUAL(len, 32);
}

/* A SIGN for alice by a, which must succeed: checked as alice would check it. */
static void
sign_ok(struct kms_adapter *a, const uint8_t digest[32], uint8_t out_sig[32])
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	uint8_t want[32];

	sign_req(&req, "alice", digest);
	kms_adapter_handle(a, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT_EQUAL(rep.op, KMS_PROTO_SIGN);
	CU_ASSERT_EQUAL(rep.id, 11);
	CU_ASSERT_STRING_EQUAL(rep.u.sign.key_id, "ik.0.alice");
	CU_ASSERT_EQUAL(rep.u.sign.key_id_len, strlen("ik.0.alice"));
	client_signature(want, dom.alice_ink, digest);
	CU_ASSERT(memcmp(rep.u.sign.signature, want, 32) == 0);
	memcpy(out_sig, rep.u.sign.signature, 32);
}

/* A SIGN for client by a, which must be refused with want, nothing of a signature in the reply. */
static void
sign_refused(struct kms_adapter *a, const char *client, const uint8_t digest[32], int want)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;

	sign_req(&req, client, digest);
	kms_adapter_handle(a, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, want);
	CU_ASSERT_EQUAL(rep.id, 11);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&rep.u, sizeof(rep.u)));
}

/* Put client_id into the roster with alice's keys, revoked or not (the test's own connection). */
static void
put_alice_twin(const char *client_id, int revoked)
{
	struct kms_store *st = NULL;
	struct kms_store_client c;

	memset(&c, 0, sizeof(c));
	snprintf(c.client_id, sizeof(c.client_id), "%s", client_id);
	c.cls = KMS_CLIENT_UE;
	snprintf(c.trk_label, sizeof(c.trk_label), "tk.0.alice");
	snprintf(c.ink_label, sizeof(c.ink_label), "ik.0.alice");
	c.revoked = revoked;
	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, dom.tok.store_path, KMS_STORE_RW), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_put_client(st, &c), KMS_OK);
	kms_store_close(st);
}

static void
test_sign(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	uint8_t d1[32], d2[32], sig1[32], sig2[32], sig[32], other[32];
	size_t i;

	for (i = 0; i < 32; i++) {
		d1[i] = (uint8_t)(0xa0 + i);
	}
	memcpy(d2, d1, 32);
	d2[31] ^= 1;
	/* alice's signatures, with her InK, over the SignedInfo built from the digest */
	sign_ok(online, d1, sig1);
	sign_ok(online, d2, sig2);
	CU_ASSERT(memcmp(sig1, sig2, 32) != 0);
	/* HMAC: the same digest, the same signature; the pre-minted adapter signs alike */
	sign_ok(online, d1, sig);
	CU_ASSERT(memcmp(sig, sig1, 32) == 0);
	sign_ok(preminted, d1, sig);
	CU_ASSERT(memcmp(sig, sig1, 32) == 0);
	/* it is not an HMAC of the digest alone, nor one under bob's InK */
	CU_ASSERT_PTR_NOT_NULL(HMAC(EVP_sha256(), dom.alice_ink, 32, d1, 32, other, NULL));
	CU_ASSERT(memcmp(other, sig1, 32) != 0);
	client_signature(other, dom.bob_ink, d1);
	CU_ASSERT(memcmp(other, sig1, 32) != 0);

	/* an unknown client; then the adapter goes on */
	sign_refused(online, "mallory", d1, KMS_ERR_FORBIDDEN);
	sign_ok(online, d1, sig);
	/* a revoked client, whose keys are in the token: refused for the revocation alone */
	put_alice_twin("alice-revoked", 1);
	sign_refused(online, "alice-revoked", d1, KMS_ERR_FORBIDDEN);
	sign_refused(preminted, "alice-revoked", d1, KMS_ERR_FORBIDDEN);
	sign_ok(online, d2, sig);
	CU_ASSERT(memcmp(sig, sig2, 32) == 0);
	/* restored, the same client is served (with alice's InK), and revoked again refused */
	put_alice_twin("alice-revoked", 0);
	sign_req(&req, "alice-revoked", d1);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT_STRING_EQUAL(rep.u.sign.key_id, "ik.0.alice");
	CU_ASSERT(memcmp(rep.u.sign.signature, sig1, 32) == 0);
	put_alice_twin("alice-revoked", 1);
	sign_refused(online, "alice-revoked", d1, KMS_ERR_FORBIDDEN);
	sign_ok(online, d1, sig);
	CU_ASSERT(memcmp(sig, sig1, 32) == 0);
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
	provision_req(&req, "alice", ALICE, dom.now_period);
	CU_ASSERT_EQUAL(kms_proto_encode_request(buf, sizeof(buf), &len, &req), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_frame_write(sv[0], buf, len), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_frame_read(sv[0], buf, sizeof(buf), &len), KMS_OK);
	CU_ASSERT_EQUAL(kms_proto_decode_reply(&rep, buf, len), KMS_OK);
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk, dom.alice_ink,
					      ALICE, ssk, rsk));
	/* the reply frame carries no plaintext key */
	CU_ASSERT(!leaks(buf, len, ssk, sizeof(ssk)));
	CU_ASSERT(!leaks(buf, len, rsk, sizeof(rsk)));
	/* a refused request is answered too, and the loop goes on */
	provision_req(&req, "alice", BOB, dom.now_period);
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

/* Send req over fd and decode the answer into rep. */
static void
exchange(int fd, const struct kms_proto_request *req, struct kms_proto_reply *rep)
{
	static uint8_t buf[KMS_MAX_IPC];
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(kms_proto_encode_request(buf, sizeof(buf), &len, req), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_proto_frame_write(fd, buf, len), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_proto_frame_read(fd, buf, sizeof(buf), &len), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_proto_decode_reply(rep, buf, len), KMS_OK);
}

/* SIGN through the frame loop: refusals are answered, and the same connection goes on. */
static void
test_serve_sign(void)
{
	int sv[2];
	pthread_t th;
	struct serve_arg arg;
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	uint8_t digest[32], want[32];

	memset(digest, 0x5c, sizeof(digest));
	client_signature(want, dom.alice_ink, digest);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	arg.fd = sv[1];
	arg.result = 99;
	CU_ASSERT_FATAL(pthread_create(&th, NULL, serve_thread, &arg) == 0);
	sign_req(&req, "mallory", digest);
	exchange(sv[0], &req, &rep);
	CU_ASSERT_EQUAL(rep.op, KMS_PROTO_SIGN);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
	sign_req(&req, "alice", digest);
	exchange(sv[0], &req, &rep);
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT_STRING_EQUAL(rep.u.sign.key_id, "ik.0.alice");
	CU_ASSERT(memcmp(rep.u.sign.signature, want, 32) == 0);
	put_alice_twin("alice-revoked", 1);
	sign_req(&req, "alice-revoked", digest);
	exchange(sv[0], &req, &rep);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
	sign_req(&req, "alice", digest);
	exchange(sv[0], &req, &rep);
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(memcmp(rep.u.sign.signature, want, 32) == 0);
	close(sv[0]);
	CU_ASSERT_EQUAL(pthread_join(th, NULL), 0);
	CU_ASSERT_EQUAL(arg.result, KMS_OK);
}

static void
test_bad_configuration(void)
{
	struct kms_adapter *a = NULL;
	struct kms_adapter_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.store_path = dom.tok.store_path;
	cfg.kek_label = KEK_LABEL;
	cfg.kwp = CKM_AES_KEY_WRAP_PAD;
	/* SoftHSM pads wrongly: without the host-ECB allowance the adapter refuses to serve */
	CU_ASSERT_EQUAL(kms_adapter_new(&a, dom.tok.p11, &cfg), KMS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(a);
	cfg.allow_host_ecb = 1;
	cfg.kek_label = "no.such.kek";
	CU_ASSERT_NOT_EQUAL(kms_adapter_new(&a, dom.tok.p11, &cfg), KMS_OK);
	cfg.kek_label = KEK_LABEL;
	cfg.store_path = "/nonexistent/kms.db";
	CU_ASSERT_NOT_EQUAL(kms_adapter_new(&a, dom.tok.p11, &cfg), KMS_OK);
	CU_ASSERT_PTR_NULL(a);
}

/* A TLS_SIGN request of digest[0..len). */
static void
tls_sign_req(struct kms_proto_request *req, const uint8_t *digest, size_t len)
{
	memset(req, 0, sizeof(*req));
	req->op = KMS_PROTO_TLS_SIGN;
	req->id = 9;
	memcpy(req->u.tls_sign.digest, digest,
	       len < KMS_PROTO_TLS_DIGEST_MAX ? len : KMS_PROTO_TLS_DIGEST_MAX);
	req->u.tls_sign.digest_len = len;
}

/*
 * TLS_SIGN: a key pair made in the token (kms_keys_generate_tls, whose attributes are read back),
 * an adapter with tls_key: its signatures of 20..64-octet digests verify with OpenSSL against the
 * public point; 19 or 65 octets are refused; an adapter without tls_key answers UNSUPPORTED; a
 * tls_key that names no key pair refuses to start.
 */
static void
test_tls_sign(void)
{
	static const size_t lens[] = {20, 32, 48, 64};
	struct kms_adapter *a = NULL;
	struct kms_adapter_config cfg;
	struct kms_p11_session *s = NULL;
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE, again = CK_INVALID_HANDLE;
	uint8_t point[KMS_EC_POINT_LEN], found[KMS_EC_POINT_LEN];
	uint8_t digest[KMS_PROTO_TLS_DIGEST_MAX + 1];
	CK_MECHANISM_TYPE mechs[4];
	size_t mlen = 0, i;
	int v = -1;

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_keys_generate_tls(s, &priv, point, "test.tls"), KMS_OK);
	CU_ASSERT_EQUAL(point[0], 0x04);
	/* the private half: sensitive, not extractable, signs with CKM_ECDSA only */
	CU_ASSERT(kms_p11_get_bool(s, &v, priv, CKA_SENSITIVE) == KMS_OK && v == 1);
	CU_ASSERT(kms_p11_get_bool(s, &v, priv, CKA_EXTRACTABLE) == KMS_OK && v == 0);
	CU_ASSERT(kms_p11_get_bool(s, &v, priv, CKA_TOKEN) == KMS_OK && v == 1);
	CU_ASSERT(kms_p11_get_bool(s, &v, priv, CKA_PRIVATE) == KMS_OK && v == 1);
	CU_ASSERT(kms_p11_get_bool(s, &v, priv, CKA_SIGN) == KMS_OK && v == 1);
	CU_ASSERT(kms_p11_get_bool(s, &v, priv, CKA_DERIVE) == KMS_OK && v == 0);
	CU_ASSERT(kms_p11_get_attribute(s, mechs, sizeof(mechs), &mlen, priv,
					CKA_ALLOWED_MECHANISMS) == KMS_OK &&
		  mlen == sizeof(mechs[0]) && mechs[0] == CKM_ECDSA);
	/* the same label again is refused; the pair is found by its label */
	CU_ASSERT_EQUAL(kms_keys_generate_tls(s, &again, found, "test.tls"), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_keys_find_tls(s, &again, found, "test.tls"), KMS_OK);
	CU_ASSERT(memcmp(found, point, sizeof(point)) == 0);
	CU_ASSERT_EQUAL(kms_keys_find_tls(s, &again, found, "no.such.tls"), KMS_ERR_INVALID_ARG);
	kms_p11_return(s);

	/* without tls_key: UNSUPPORTED */
	CU_ASSERT_EQUAL_FATAL(RAND_bytes(digest, sizeof(digest)), 1);
	tls_sign_req(&req, digest, 32);
	kms_adapter_handle(online, &req, &rep, kms_ntp_from_unix((uint64_t)time(NULL)));
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_UNSUPPORTED);

	adapter_cfg(&cfg, KMS_ISSUER_PREMINTED);
	cfg.tls_key_label = "no.such.tls";
	CU_ASSERT_EQUAL(kms_adapter_new(&a, dom.tok.p11, &cfg), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(a);
	cfg.tls_key_label = "test.tls";
	CU_ASSERT_EQUAL_FATAL(kms_adapter_new(&a, dom.tok.p11, &cfg), KMS_OK);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		tls_sign_req(&req, digest, lens[i]);
		kms_adapter_handle(a, &req, &rep, 0);
		CU_ASSERT_EQUAL(rep.status, KMS_OK);
		CU_ASSERT_EQUAL(rep.op, KMS_PROTO_TLS_SIGN);
		CU_ASSERT_EQUAL(rep.id, 9);
		CU_ASSERT_EQUAL(
			kms_ecdsa_verify_point(point, digest, lens[i], rep.u.tls_sign.signature),
			KMS_OK);
		/* another digest does not verify with it */
		digest[0] ^= 1;
		CU_ASSERT_EQUAL(
			kms_ecdsa_verify_point(point, digest, lens[i], rep.u.tls_sign.signature),
			KMS_ERR_AUTH);
		digest[0] ^= 1;
	}
	/* digests of 19 and 65 octets (the decoder refuses them too) */
	tls_sign_req(&req, digest, 19);
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	tls_sign_req(&req, digest, 65);
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	for (i = 0; i < KMS_PROTO_TLS_SIG_LEN; i++) {
		CU_ASSERT_EQUAL(rep.u.tls_sign.signature[i], 0);
	}
	kms_adapter_free(a);

	/* clean up: the pair goes */
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_find_class(s, &again, CKO_PUBLIC_KEY, "test.tls"), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, again), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, priv), KMS_OK);
	kms_p11_return(s);
}

/* An AUDIT_SIGN request for (seq, hash, time_s). */
static void
audit_sign_req(struct kms_proto_request *req, uint64_t seq, const uint8_t *hash, uint64_t time_s)
{
	memset(req, 0, sizeof(*req));
	req->op = KMS_PROTO_AUDIT_SIGN;
	req->id = 11;
	req->u.audit_sign.seq = seq;
	memcpy(req->u.audit_sign.hash, hash, KMS_PROTO_AUDIT_HASH_LEN);
	req->u.audit_sign.time_s = time_s;
}

/* The checkpoint walk's callback: the checkpoint of seq (*arg's seq) into *arg. */
static int
find_cp(void *arg, const struct kms_audit_checkpoint *cp)
{
	struct kms_audit_checkpoint *want = arg;

	if (cp->seq == want->seq) {
		memcpy(want, cp, sizeof(*cp));
	}
	return KMS_OK;
}

/*
 * AUDIT_SIGN: an audit key pair in the token, registered in the store; the adapter signs the
 * checkpoint of a record that is in the store with its hash (the signature verifies with OpenSSL
 * against the checkpoint digest) and writes it into the store itself, naming its key (the store's
 * check passes); a seq another node checkpointed first keeps that checkpoint; it refuses a hash
 * that is not the record's and a seq the log does not have; with its key not registered in the
 * store (another node's is) it refuses to start and says to register it; without audit_key it
 * answers UNSUPPORTED.
 */
static void
test_audit_sign(void)
{
	const uint64_t t0 = (uint64_t)time(NULL); /* kms-hsmd signs only its own time, +-300 s */
	struct kms_adapter *a = NULL;
	struct kms_adapter_config cfg;
	struct kms_p11_session *s = NULL;
	struct kms_store *st = NULL;
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	struct kms_audit_rec rec;
	struct kms_audit_checkpoint cp;
	struct kms_audit_report report;
	CK_OBJECT_HANDLE priv = CK_INVALID_HANDLE, pub = CK_INVALID_HANDLE;
	uint8_t point[KMS_EC_POINT_LEN], hash[KMS_AUDIT_HASH_LEN], other[KMS_AUDIT_HASH_LEN];
	uint8_t digest[KMS_AUDIT_HASH_LEN], fp[KMS_AUDIT_HASH_LEN], node2[KMS_AUDIT_POINT_LEN];
	char logdir[256], logpath[300], logbuf[4096];
	uint64_t seq = 0, last = 0;
	size_t i;
	int fd;

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_keys_generate_tls(s, &priv, point, "test.audit"), KMS_OK);
	kms_p11_return(s);

	/* three audit records in the store */
	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, dom.tok.store_path, KMS_STORE_RW), KMS_OK);
	memset(&rec, 0, sizeof(rec));
	rec.time_s = 1714564800;
	rec.request_id = "req-a";
	rec.resource = "GET /x";
	rec.http_status = 200;
	rec.outcome = "provisioned";
	for (i = 0; i < 3; i++) {
		CU_ASSERT_EQUAL_FATAL(kms_store_audit_append(st, &rec, &seq), KMS_OK);
	}
	last = seq;

	adapter_cfg(&cfg, KMS_ISSUER_PREMINTED);
	/* no such pair, then a pair whose point the store does not have (another node's key is
	 * registered): no start, and the log says to register it */
	cfg.audit_key_label = "no.such.audit";
	CU_ASSERT_EQUAL(kms_adapter_new(&a, dom.tok.p11, &cfg), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(a);
	memset(node2, 0x42, sizeof(node2));
	node2[0] = 0x04;
	CU_ASSERT_EQUAL_FATAL(kms_store_put_audit_key(st, node2, "node2.audit"), KMS_OK);
	cfg.audit_key_label = "test.audit";
	CU_ASSERT_FATAL(kms_test_tmpdir(logdir, sizeof(logdir), "adapter-audit") == 0);
	snprintf(logpath, sizeof(logpath), "%s/log", logdir);
	fd = kms_test_log_capture(logpath, "test_adapter");
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(kms_adapter_new(&a, dom.tok.p11, &cfg), KMS_ERR_SELFTEST);
	(void)kms_test_read_fd(fd, logbuf, sizeof(logbuf));
	kms_test_log_release(fd);
	(void)unlink(logpath);
	(void)rmdir(logdir);
	CU_ASSERT_PTR_NULL(a);
	CU_ASSERT_PTR_NOT_NULL(strstr(logbuf, "is not registered in the store: register it"));
	CU_ASSERT_EQUAL_FATAL(kms_store_put_audit_key(st, point, "test.audit"), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_adapter_new(&a, dom.tok.p11, &cfg), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_store_audit_key_fingerprint(point, fp), KMS_OK);

	/* the last record: signed; the signature verifies for the checkpoint digest */
	CU_ASSERT_EQUAL_FATAL(kms_store_audit_hash_at(st, last, hash), KMS_OK);
	audit_sign_req(&req, last, hash, t0);
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT_EQUAL(rep.op, KMS_PROTO_AUDIT_SIGN);
	CU_ASSERT_EQUAL(rep.id, 11);
	CU_ASSERT_EQUAL(kms_store_checkpoint_digest(last, hash, t0, digest), KMS_OK);
	CU_ASSERT_EQUAL(
		kms_ecdsa_verify_point(point, digest, sizeof(digest), rep.u.audit_sign.signature),
		KMS_OK);
	/* another time in the digest: does not verify */
	CU_ASSERT_EQUAL(kms_store_checkpoint_digest(last, hash, (t0 + 1), digest), KMS_OK);
	CU_ASSERT_EQUAL(
		kms_ecdsa_verify_point(point, digest, sizeof(digest), rep.u.audit_sign.signature),
		KMS_ERR_AUTH);
	/* the adapter stored it, naming its key; it passes the store's check, pinned too */
	memset(&cp, 0, sizeof(cp));
	cp.seq = last;
	CU_ASSERT_EQUAL(kms_store_checkpoint_walk(st, find_cp, &cp), KMS_OK);
	CU_ASSERT(memcmp(cp.hash, hash, sizeof(hash)) == 0);
	CU_ASSERT_EQUAL(cp.time_s, t0);
	CU_ASSERT(memcmp(cp.key_fp, fp, sizeof(fp)) == 0);
	CU_ASSERT(memcmp(cp.sig, rep.u.audit_sign.signature, sizeof(cp.sig)) == 0);
	CU_ASSERT_EQUAL(kms_store_audit_verify_checkpoints(st, kms_ecdsa_verify_point,
							   (const uint8_t(*)[KMS_AUDIT_HASH_LEN])fp,
							   1, NULL, NULL, &report),
			KMS_OK);
	CU_ASSERT(report.num_checkpoints >= 1);
	CU_ASSERT_EQUAL(report.last_cp_seq, last);
	/* the same record again: signed, the stored checkpoint stays the first */
	audit_sign_req(&req, last, hash, (t0 + 99));
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	memset(&cp, 0, sizeof(cp));
	cp.seq = last;
	CU_ASSERT_EQUAL(kms_store_checkpoint_walk(st, find_cp, &cp), KMS_OK);
	CU_ASSERT_EQUAL(cp.time_s, t0);
	/* a record another node checkpointed first: KMS_OK, its checkpoint stays */
	memset(&cp, 0, sizeof(cp));
	cp.seq = last - 1;
	CU_ASSERT_EQUAL_FATAL(kms_store_audit_hash_at(st, last - 1, cp.hash), KMS_OK);
	cp.time_s = 7;
	CU_ASSERT_EQUAL_FATAL(kms_store_audit_key_fingerprint(node2, cp.key_fp), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_store_checkpoint_put(st, &cp), KMS_OK);
	audit_sign_req(&req, last - 1, cp.hash, t0);
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	memset(&cp, 0, sizeof(cp));
	cp.seq = last - 1;
	CU_ASSERT_EQUAL(kms_store_checkpoint_walk(st, find_cp, &cp), KMS_OK);
	CU_ASSERT_EQUAL(cp.time_s, 7);
	CU_ASSERT(memcmp(cp.key_fp, fp, sizeof(fp)) != 0);

	/* a hash that is not the record's: refused, no signature */
	memcpy(other, hash, sizeof(other));
	other[31] ^= 0x01;
	audit_sign_req(&req, last, other, t0);
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
	CU_ASSERT(kms_test_all_zero(rep.u.audit_sign.signature, KMS_PROTO_AUDIT_SIG_LEN));
	/* the hash of another record: refused */
	CU_ASSERT_EQUAL(kms_store_audit_hash_at(st, last - 1, other), KMS_OK);
	audit_sign_req(&req, last, other, t0);
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
	/* a seq the log does not have (the head's hash): refused */
	audit_sign_req(&req, last + 1, hash, t0);
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_FORBIDDEN);
	audit_sign_req(&req, 0, hash, t0);
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	/* a time more than 300 s from kms-hsmd's clock: refused */
	audit_sign_req(&req, last, hash, t0 + 400);
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	audit_sign_req(&req, last, hash, t0 - 400);
	kms_adapter_handle(a, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_RANGE);
	kms_adapter_free(a);

	/* without audit_key: UNSUPPORTED */
	audit_sign_req(&req, last, hash, t0);
	kms_adapter_handle(online, &req, &rep, 0);
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_UNSUPPORTED);
	kms_store_close(st);

	/* clean up: the pair goes (the store keeps its point: only this test uses it) */
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_find_class(s, &pub, CKO_PUBLIC_KEY, "test.audit"), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, pub), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, priv), KMS_OK);
	kms_p11_return(s);
}

/* The token directory taken away mid-run and brought back (an HSM unplugged and replugged). */
static void
test_token_lost_and_back(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	char tokens[160], away[160];
	int i;

	snprintf(tokens, sizeof(tokens), "%s/tokens", dom.tok.dir);
	snprintf(away, sizeof(away), "%s/tokens.away", dom.tok.dir);
	provision_req(&req, "alice", ALICE, dom.now_period);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT_EQUAL_FATAL(rename(tokens, away), 0);
	/* the token was there a moment ago: asked again once KMS_ADAPTER_PRESENT_MS is over */
	usleep((KMS_ADAPTER_PRESENT_MS + 50) * 1000);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_ERR_HSM_UNAVAIL);
	CU_ASSERT(kms_test_all_zero((const uint8_t *)&rep.u, sizeof(rep.u)));
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_HEALTH;
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(!rep.u.health.token_present);
	CU_ASSERT_EQUAL_FATAL(rename(away, tokens), 0);
	/* the layer restarts the module on its own after a back-off: retry for a few seconds */
	provision_req(&req, "alice", ALICE, dom.now_period);
	for (i = 0; i < 100; i++) {
		kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
		if (rep.status == KMS_OK) {
			break;
		}
		CU_ASSERT_EQUAL(rep.status, KMS_ERR_HSM_UNAVAIL);
		usleep(100 * 1000);
	}
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk, dom.alice_ink,
					      ALICE, NULL, NULL));
}

static CU_TestInfo adapter_tests[] = {
	{"online issuer: a client unwraps and validates its key set", test_online_provision},
	{"pre-minted issuer: re-wrapped sets, no fallback", test_preminted_provision},
	{"plaintext clients: unwrapped sets for them only", test_plaintext_client},
	{"TLS_SIGN: the TLS key in the token signs, OpenSSL verifies", test_tls_sign},
	{"AUDIT_SIGN: the audit key signs checkpoints of records in the store only",
	 test_audit_sign},
	{"entitlements and key periods", test_entitlements_and_periods},
	{"certificate and health", test_certificate_and_health},
	{"TrK/InK rotation: client reply, client_keys restorable, all or nothing", test_rotation},
	{"retired TrK/InK destroyed at start, never the KEK or a key in use",
	 test_retired_purged_at_start},
	{"retired keys: the token listed when the list is longer", test_retired_purged_by_listing},
	{"SIGN: the InK's HMAC of the SignedInfo; unknown and revoked clients", test_sign},
	{"the frame loop: good, refused, bad and oversized frames", test_serve_frames},
	{"the frame loop: SIGN refused and served on one connection", test_serve_sign},
	{"start-up refuses bad configurations", test_bad_configuration},
	{"the token taken away and brought back", test_token_lost_and_back},
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
