/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The PKCS#11 layer and the key hierarchy on a second implementation: NSS's softoken
 * (libsoftokn3, Debian's libnss3), in a throw-away database (label hsm). It differs from
 * SoftHSM where it matters to the KMS:
 * - its RFC 5649 wrap (KMS_CKM_AES_KEY_WRAP_KWP, 0x210B) is exact for every length, so the
 *   start-up probe picks the token's own wrap, and the PVT and RSK (65 and 257 octets) are
 *   wrapped by the token, not through the host-ECB fallback; its 0x210A (CKM_AES_KEY_WRAP_PAD
 *   of PKCS#11 2.40: RFC 3394 with PKCS #7 padding) is not RFC 5649 and the probe says so;
 * - it does not enforce CKA_ALLOWED_MECHANISMS or CKA_WRAP_TEMPLATE (and refuses them on
 *   token keys), which the layer finds at start and leaves out of every template;
 * - it wants an initialisation string in C_Initialize (module_params);
 * - it unwraps generic secrets of 256 octets at most, so it cannot unwrap a 257-octet RSK: the
 *   pre-minted issuer cannot serve from it (kms_unwrap_probe finds out);
 * - it answers a wrong MAC in C_Verify with CKR_ARGUMENTS_BAD.
 * The pre-minted issuer's path (C_UnwrapKey under the KEK, C_WrapKey under the TrK) and the
 * online one (material in, wrapped out) are checked with OpenSSL unwrapping the result, as a
 * client does. A second suite makes a development domain in another NSS database and runs
 * kms-hsmd's adapter on it. Skipped (77) where libsoftokn3 is not installed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>

#include "common/log.h"
#include "hsm/adapter.h"
#include "hsm/keys.h"
#include "hsm/p11.h"
#include "tests/unit/kms_test.h"
#include "tools/devdomain.h"
#include "tools/devtoken.h"

#include "common/banned.h"

#define TOKEN "kms-nss-test"

static struct kms_devtoken tok;
static struct kms_p11 *p11;
static char log_dir[256];
static int logfd = -1;

static const char *
log_text(void)
{
	static char buf[64 * 1024];

	(void)kms_test_read_fd(logfd, buf, sizeof(buf));
	return buf;
}

/* Empty the captured log. */
static void
log_reset_nss(void)
{
	CU_ASSERT(ftruncate(logfd, 0) == 0);
}

static int
suite_init(void)
{
	/* a new NSS database, its user PIN set, opened through kms_p11 with module_params */
	if (kms_devtoken_new_kind(&tok, TOKEN, KMS_DEVTOKEN_NSS) != 0) {
		fprintf(stderr, "test_nss: cannot set up the NSS token:\n%s\n", log_text());
		return 1;
	}
	p11 = tok.p11;
	return 0;
}

static int
suite_cleanup(void)
{
	p11 = NULL;
	return kms_devtoken_free(&tok) == 0 ? 0 : 1;
}

/* A session AES key whose value the test knows, with the usage flag flag. */
static CK_OBJECT_HANDLE
known_key(struct kms_p11_session *s, const uint8_t key[32], CK_ATTRIBUTE_TYPE flag)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE type = CKK_AES;
	CK_BBOOL t = CK_TRUE, fl = CK_FALSE;
	CK_MECHANISM_TYPE allowed[1] = {KMS_CKM_AES_KEY_WRAP_KWP};
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &type, sizeof(type)},
		{CKA_VALUE, (void *)(uintptr_t)key, 32},
		{CKA_TOKEN, &fl, sizeof(fl)},
		{flag, &t, sizeof(t)},
		{CKA_ALLOWED_MECHANISMS, allowed, sizeof(allowed)}, /* left out for NSS */
	};
	CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;

	CU_ASSERT_EQUAL(kms_p11_create_object(s, &h, tmpl, 6), KMS_OK);
	return h;
}

/* OpenSSL's RFC 5649 (a client's unwrap, a ceremony's wrap). */
static int
openssl_kwp(int enc, const uint8_t key[32], const uint8_t *in, size_t in_len, uint8_t *out,
	    size_t *out_len)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int n = 0, fin = 0, ok;

	ok = c != NULL && EVP_CipherInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL, enc) == 1 &&
	     EVP_CipherUpdate(c, out, &n, in, (int)in_len) == 1 &&
	     EVP_CipherFinal_ex(c, out + n, &fin) == 1;
	EVP_CIPHER_CTX_free(c);
	*out_len = ok ? (size_t)(n + fin) : 0;
	return ok;
}

/* What the token enforces was found at start, and said. */
static void
test_restricting_attributes(void)
{
	struct kms_p11_session *s = NULL;

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_enforces(s), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "does not enforce CKA_ALLOWED_MECHANISMS "
						  "CKA_WRAP_TEMPLATE/CKA_UNWRAP_TEMPLATE"));
	kms_p11_return(s);
}

/* The wrap probe: 0x210B is RFC 5649 and exact; 0x210A is another padding and refused. */
static void
test_wrap_probe(void)
{
	struct kms_wrap_policy kwp = {KMS_CKM_AES_KEY_WRAP_KWP, KMS_WRAP_TOKEN};
	struct kms_wrap_policy pad = {CKM_AES_KEY_WRAP_PAD, KMS_WRAP_TOKEN};
	struct kms_p11_session *s = NULL;
	int exact = 0;

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(kms_wrap_probe(s, &kwp, &exact), KMS_OK);
	CU_ASSERT_EQUAL(exact, 1);
	CU_ASSERT_EQUAL(kms_wrap_choose(&kwp, exact, 0), KMS_OK);
	CU_ASSERT_EQUAL(kwp.mode, KMS_WRAP_TOKEN);
	CU_ASSERT_EQUAL(kms_wrap_probe(s, &pad, &exact), KMS_ERR_SELFTEST);
	CU_ASSERT_PTR_NOT_NULL(
		strstr(log_text(), "(mechanism 0x210a) of 32 octets does not unwrap"));
	CU_ASSERT_EQUAL(kms_hmac_probe(s), KMS_OK);
	kms_p11_return(s);
}

/*
 * Both issuers' paths in token mode, for the three lengths of a key set: the online one
 * (kms_wrap_bytes: the material imported, wrapped, destroyed) and the pre-minted one
 * (kms_unwrap_object of a ceremony's blob under the KEK, kms_wrap_object under the TrK). The
 * client (OpenSSL) gets exactly the material back. NSS cannot unwrap the 257-octet RSK into a
 * key object, and kms_unwrap_probe, which keeps the pre-minted issuer from starting on such a
 * token, says so.
 */
static void
test_token_wraps(void)
{
	static const size_t lens[] = {32, 65, 257};
	struct kms_wrap_policy pol = {KMS_CKM_AES_KEY_WRAP_KWP, KMS_WRAP_TOKEN};
	struct kms_p11_session *s = NULL;
	uint8_t trk_v[32], kek_v[32], data[257], blob[KMS_WRAP_MAX_BLOB], back[KMS_WRAP_MAX_BLOB];
	uint8_t minted[KMS_WRAP_MAX_BLOB];
	CK_OBJECT_HANDLE trk, kek;
	size_t i;

	CU_ASSERT_FATAL(RAND_bytes(trk_v, 32) == 1 && RAND_bytes(kek_v, 32) == 1);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	trk = known_key(s, trk_v, CKA_WRAP);
	kek = known_key(s, kek_v, CKA_UNWRAP);
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
		size_t blob_len = 0, back_len = 0, minted_len = 0;

		CU_ASSERT_FATAL(RAND_bytes(data, (int)lens[i]) == 1);
		/* online */
		CU_ASSERT_EQUAL(
			kms_wrap_bytes(s, &pol, trk, data, lens[i], blob, sizeof(blob), &blob_len),
			KMS_OK);
		CU_ASSERT_EQUAL(blob_len, ((lens[i] + 7) / 8 + 1) * 8);
		CU_ASSERT(openssl_kwp(0, trk_v, blob, blob_len, back, &back_len));
		CU_ASSERT_EQUAL(back_len, lens[i]);
		CU_ASSERT_EQUAL(memcmp(back, data, lens[i]), 0);
		/* pre-minted: NSS unwraps generic secrets of 256 octets at most (an RSK is 257) */
		CU_ASSERT_FATAL(openssl_kwp(1, kek_v, data, lens[i], minted, &minted_len));
		if (lens[i] > 256) {
			CU_ASSERT_NOT_EQUAL(
				kms_unwrap_object(s, &pol, kek, minted, minted_len, lens[i], &obj),
				KMS_OK);
			CU_ASSERT_EQUAL(kms_unwrap_probe(s, &pol, lens[i]), KMS_ERR_UNSUPPORTED);
			continue;
		}
		CU_ASSERT_EQUAL(kms_unwrap_probe(s, &pol, lens[i]), KMS_OK);
		CU_ASSERT_EQUAL_FATAL(
			kms_unwrap_object(s, &pol, kek, minted, minted_len, lens[i], &obj), KMS_OK);
		CU_ASSERT_EQUAL(
			kms_wrap_object(s, &pol, trk, obj, lens[i], blob, sizeof(blob), &blob_len),
			KMS_OK);
		CU_ASSERT_EQUAL(kms_p11_destroy_object(s, obj), KMS_OK);
		CU_ASSERT(openssl_kwp(0, trk_v, blob, blob_len, back, &back_len));
		CU_ASSERT_EQUAL(back_len, lens[i]);
		CU_ASSERT_EQUAL(memcmp(back, data, lens[i]), 0);
		/* a blob under another KEK, or cut short, is refused */
		minted[minted_len - 1] ^= 1;
		CU_ASSERT_EQUAL(kms_unwrap_object(s, &pol, kek, minted, minted_len, lens[i], &obj),
				KMS_ERR_AUTH);
		CU_ASSERT_NOT_EQUAL(
			kms_unwrap_object(s, &pol, kek, minted, minted_len - 8, lens[i], &obj),
			KMS_OK);
	}
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, trk), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, kek), KMS_OK);
	kms_p11_return(s);
}

/* The hierarchy's keys as token objects: made without what NSS does not take, then locked. */
static void
test_key_roles(void)
{
	struct kms_wrap_policy pol = {KMS_CKM_AES_KEY_WRAP_KWP, KMS_WRAP_TOKEN};
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE kek, trk, ink, found;
	uint8_t mac[32];
	size_t n = 9;
	int v = -1;

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p11, &s), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_keys_generate(s, &kek, KMS_KEY_KEK, "kek.nss", &pol, 0, 0),
			      KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_keys_generate(s, &trk, KMS_KEY_TRK, "tk.nss", &pol, 1, 0),
			      KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_keys_generate(s, &ink, KMS_KEY_INK, "ik.nss", &pol, 1, 0),
			      KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_lock(s, trk), KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_lock(s, ink), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, kek, CKA_EXTRACTABLE), KMS_OK);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, trk, CKA_EXTRACTABLE), KMS_OK);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, ink, CKA_SENSITIVE), KMS_OK);
	CU_ASSERT_EQUAL(v, 1);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, trk, CKA_SIGN), KMS_OK);
	CU_ASSERT_EQUAL(v, 0);
	CU_ASSERT_EQUAL(kms_keys_find(s, &found, "tk.nss"), KMS_OK);
	CU_ASSERT_EQUAL(found, trk);
	CU_ASSERT_EQUAL(kms_hmac_sha256(s, ink, (const uint8_t *)"abc", 3, mac), KMS_OK);
	CU_ASSERT_EQUAL(kms_hmac_sha256_verify(s, ink, (const uint8_t *)"abc", 3, mac), KMS_OK);
	mac[0] ^= 1;
	CU_ASSERT_EQUAL(kms_hmac_sha256_verify(s, ink, (const uint8_t *)"abc", 3, mac),
			KMS_ERR_AUTH);
	/* retired TrK and InK go by label; the KEK (it can unwrap) stays under any label */
	CU_ASSERT_EQUAL(kms_keys_destroy_label(s, "tk.nss", &n), KMS_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(kms_keys_destroy_label(s, "ik.nss", &n), KMS_OK);
	CU_ASSERT_EQUAL(n, 1);
	CU_ASSERT_EQUAL(kms_keys_find(s, &found, "tk.nss"), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_keys_destroy_label(s, "kek.nss", &n), KMS_OK);
	CU_ASSERT_EQUAL(n, 0);
	CU_ASSERT_EQUAL(kms_keys_find(s, &found, "kek.nss"), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, kek), KMS_OK);
	kms_p11_return(s);
}

/* ---- the adapter on a development domain in an NSS database ---- */

static struct kms_devdomain dom;

static int
domain_init(void)
{
	if (kms_devdomain_new_kind(&dom, "kms-nss-domain", KMS_DEVTOKEN_NSS) != 0) {
		fprintf(stderr, "test_nss: cannot make the NSS domain:\n%s\n", log_text());
		return 1;
	}
	return 0;
}

static int
domain_cleanup(void)
{
	return kms_devdomain_free(&dom) == 0 ? 0 : 1;
}

static void
domain_cfg(struct kms_adapter_config *cfg, enum kms_issuer issuer)
{
	/* 0x210b: the host-ECB wrap not needed, and so not allowed */
	kms_devdomain_adapter_cfg(cfg, dom.tok.store_path, KMS_CKM_AES_KEY_WRAP_KWP, issuer);
}

/*
 * The online issuer end to end on a token that wraps exactly: kms-hsmd's adapter starts (its
 * known-answer tests pass in token mode), issues alice's key set, the token wraps the SSK, PVT
 * and RSK, and alice's checks (unwrap with OpenSSL, RFC 6507 pair, RFC 6508 RSK, the MAC) hold.
 * The pre-minted issuer refuses to start here: NSS cannot unwrap the 257-octet RSK.
 */
static void
test_adapter_on_nss(void)
{
	struct kms_adapter_config cfg;
	struct kms_adapter *a = NULL;
	struct kms_proto_request req;
	struct kms_proto_reply rep;

	domain_cfg(&cfg, KMS_ISSUER_ONLINE);
	CU_ASSERT_EQUAL_FATAL(kms_adapter_new(&a, dom.tok.p11, &cfg), KMS_OK);
	CU_ASSERT_EQUAL(kms_adapter_wrap_mode(a), KMS_WRAP_TOKEN);
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_PROVISION;
	req.id = 3;
	req.u.provision.client_id_len = strlen("alice");
	memcpy(req.u.provision.client_id, "alice", req.u.provision.client_id_len);
	req.u.provision.identity_len = strlen(KMS_DEV_ALICE);
	memcpy(req.u.provision.identity, KMS_DEV_ALICE, req.u.provision.identity_len);
	req.u.provision.key_period = dom.now_period;
	kms_adapter_handle(a, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT_EQUAL(rep.u.provision.rsk_wrapped_len, 272); /* RFC 5649 of 257 octets */
	CU_ASSERT_EQUAL(rep.u.provision.pvt_wrapped_len, 80);  /* of 65 */
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk, dom.alice_ink,
					      KMS_DEV_ALICE, NULL, NULL));
	kms_adapter_free(a);
	a = NULL;

	log_reset_nss();
	domain_cfg(&cfg, KMS_ISSUER_PREMINTED);
	CU_ASSERT_EQUAL(kms_adapter_new(&a, dom.tok.p11, &cfg), KMS_ERR_UNSUPPORTED);
	CU_ASSERT_PTR_NULL(a);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "cannot unwrap a 257-octet key"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "use the online issuer"));
}

static CU_TestInfo domain_tests[] = {
	{"the adapter: online issuer served, pre-minted refused", test_adapter_on_nss},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo tests[] = {
	{"what the token enforces of the restricting attributes", test_restricting_attributes},
	{"wrap probe: 0x210B exact, 0x210A refused; HMAC", test_wrap_probe},
	{"online and pre-minted wraps in the token, all lengths", test_token_wraps},
	{"KEK, TrK, InK as token objects", test_key_roles},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"NSS softoken", suite_init, suite_cleanup, NULL, NULL, tests},
	/* after the first suite's module instance is gone: one per process */
	{"NSS softoken: a development domain", domain_init, domain_cleanup, NULL, NULL,
	 domain_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	char path[320];
	int rc;

	if (kms_devtoken_nss_module() == NULL) {
		fprintf(stderr,
			"test_nss: NSS's softoken (libsoftokn3) is not installed: skipped\n");
		return 77;
	}
	if (kms_test_tmpdir(log_dir, sizeof(log_dir), "nss") != 0) {
		return 1;
	}
	(void)snprintf(path, sizeof(path), "%s/log", log_dir);
	if ((logfd = kms_test_log_capture(path, "test_nss")) < 0) {
		kms_test_rmdir(log_dir);
		return 1;
	}
	rc = kms_test_main(suites);
	if (getenv("KMS_TEST_NSS_DEBUG") != NULL) {
		fprintf(stderr, "%s\n", log_text()); /* what was logged, for a failing run */
	}
	kms_test_log_release(logfd);
	kms_test_rmdir(log_dir);
	return rc;
}
