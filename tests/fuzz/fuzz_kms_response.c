/* SPDX-License-Identifier: Apache-2.0 */
/*
 * fuzz_kms_response - the KmsResponse reader of kms-client (tools/kmsclient.c) on arbitrary
 * bytes, then what the client does with an accepted response: the signature check under the
 * InK and the TrK, the certificate checks, the public key set checks against a fixed KMS
 * certificate, and, for a response whose signature holds, the unwrap and validation of its
 * first key set and of the new keys of a key rotation. Invariants: a refusal leaves *out NULL
 * with a message; every code is one the header documents; the new keys kept are bounded,
 * wrapped, and name themselves in visible ASCII; nothing crashes, leaks or reads out of bounds
 * (ASan, UBSan).
 *
 * The seeds (corpus/fuzz_kms_response) were written by test_kmsclient with
 * KMS_TEST_WRITE_CORPUS=DIR, which then issues from the fixed master secrets below and signs and
 * wraps with the test's InK and TrK, so that seeds pass every check here.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include "common/err.h"
#include "hsm/eccsi.h"
#include "hsm/sakke.h"
#include "tests/fuzz/fuzz.h"
#include "tools/kmsclient.h"

#include "common/banned.h"

/* The same values as tests/unit/test_kmsclient.c (fixed_ksak, fixed_z, trk, ink). */
static const uint8_t fixed_ksak[32] = {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
				       0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
				       0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11,
				       0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x11};
static const uint8_t fixed_z[32] = {0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
				    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
				    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22,
				    0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22, 0x22};
static const uint8_t trk[32] = {0x54, 0x72, 0x4b, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
				0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10, 0x11, 0x12, 0x13,
				0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d};
static const uint8_t ink[32] = {0x49, 0x6e, 0x4b, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7, 0xf8,
				0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff, 0xe0, 0xe1, 0xe2, 0xe3,
				0xe4, 0xe5, 0xe6, 0xe7, 0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed};

static struct kms_client_cert cert;
static char kms_uri[] = "kms.example.org";
static char user_id_format[] = "2";

static void
xml_quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void
init_once(void)
{
	static bool done;
	struct kms_eccsi_kms *e = NULL;
	struct kms_sakke_kms *s = NULL;

	if (done) {
		return;
	}
	done = true;
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, xml_quiet);
	CHECK(kms_eccsi_kms_new(&e, fixed_ksak) == KMS_OK);
	CHECK(kms_sakke_kms_new(&s, fixed_z, sizeof(fixed_z)) == KMS_OK);
	kms_eccsi_kms_kpak(e, cert.kpak);
	kms_sakke_kms_public(s, cert.z_pub);
	kms_eccsi_kms_free(e);
	kms_sakke_kms_free(s);
	cert.kms_uri = kms_uri;
	cert.user_id_format = user_id_format;
	cert.period = 2592000;
	cert.offset = 0;
}

static bool
one_of(int rc, const int *codes, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (rc == codes[i]) {
			return true;
		}
	}
	return false;
}

/* A kept new key: never plain, its CipherValue bounded, its CarriedKeyName visible ASCII. */
static void
check_new_key(const struct kms_client_key *k, bool signed_ok)
{
	static const int open_codes[] = {KMS_OK,        KMS_ERR_AUTH,
					 KMS_ERR_RANGE, KMS_ERR_UNSUPPORTED,
					 KMS_ERR_NOMEM, KMS_ERR_CRYPTO};
	struct kms_secret *key = NULL;
	char err[KMS_CLIENT_ERR_LEN];
	size_t i, n;
	int rc;

	CHECK(k->wrap != KMS_CLIENT_KEY_PLAIN && k->plain == NULL);
	CHECK(k->wrapped != NULL && k->wrapped_len > 0 && k->wrapped_len <= KMS_CLIENT_MAX_WRAPPED);
	if (k->carried_name != NULL) {
		n = strlen(k->carried_name);
		CHECK(n > 0 && n <= KMS_CLIENT_MAX_KEY_NAME);
		for (i = 0; i < n; i++) {
			CHECK((uint8_t)k->carried_name[i] > 0x20 &&
			      (uint8_t)k->carried_name[i] < 0x7f);
		}
	}
	if (!signed_ok) {
		return;
	}
	rc = kms_client_new_key_open(&key, err, sizeof(err), k, trk, NULL, "new key");
	CHECK(one_of(rc, open_codes, sizeof(open_codes) / sizeof(open_codes[0])));
	CHECK((rc == KMS_OK) == (key != NULL));
	CHECK(rc == KMS_OK || err[0] != '\0');
	CHECK(key == NULL || key->len == KMS_CLIENT_NEW_KEY_LEN);
	kms_secret_free(key);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int parse_codes[] = {KMS_ERR_PARSE,    KMS_ERR_TOO_LARGE,   KMS_ERR_RANGE,
					  KMS_ERR_ENCODING, KMS_ERR_UNSUPPORTED, KMS_ERR_NOMEM};
	static const int verify_codes[] = {KMS_OK,           KMS_ERR_AUTH,     KMS_ERR_UNSUPPORTED,
					   KMS_ERR_PARSE,    KMS_ERR_ENCODING, KMS_ERR_RANGE,
					   KMS_ERR_TOO_LARGE};
	struct kms_client_response *r = NULL;
	char err[KMS_CLIENT_ERR_LEN];
	bool signed_ok = false;
	size_t i;
	int rc;

	init_once();
	rc = kms_client_response_parse(&r, err, sizeof(err), data, size);
	if (rc != KMS_OK) {
		CHECK(r == NULL);
		CHECK(one_of(rc, parse_codes, sizeof(parse_codes) / sizeof(parse_codes[0])));
		CHECK(err[0] != '\0');
		return 0;
	}
	CHECK(r != NULL && r->user_uri != NULL && r->kms_uri != NULL && r->client_req_url != NULL);
	CHECK(r->num_keysets <= KMS_CLIENT_MAX_KEYSETS && r->num_certs <= KMS_CLIENT_MAX_CERTS);
	CHECK(r->num_new_trk <= KMS_CLIENT_MAX_NEW_KEYS &&
	      r->num_new_ink <= KMS_CLIENT_MAX_NEW_KEYS);
	CHECK(r->num_new_trk + r->num_new_ink == 0 || r->msg == KMS_CLIENT_MSG_INIT ||
	      r->msg == KMS_CLIENT_MSG_KEYPROV);
	CHECK(r->has_error == (r->error_msg != NULL));

	rc = kms_client_verify(err, sizeof(err), r, ink);
	CHECK(one_of(rc, verify_codes, sizeof(verify_codes) / sizeof(verify_codes[0])));
	CHECK(rc == KMS_OK || err[0] != '\0');
	CHECK(r->has_signature || rc == KMS_ERR_AUTH);
	signed_ok = rc == KMS_OK;
	rc = kms_client_verify(err, sizeof(err), r, trk);
	CHECK(rc != KMS_OK || !signed_ok); /* one key signed it, not both */

	for (i = 0; i < r->num_certs; i++) {
		(void)kms_client_cert_check(err, sizeof(err), &r->certs[i]);
	}
	for (i = 0; i < r->num_new_trk; i++) {
		check_new_key(&r->new_trk[i], signed_ok);
	}
	for (i = 0; i < r->num_new_ink; i++) {
		check_new_key(&r->new_ink[i], signed_ok);
	}
	for (i = 0; i < r->num_keysets; i++) {
		const struct kms_client_keyset *k = &r->keysets[i];

		CHECK(k->kms_uri != NULL && k->user_uri != NULL);
		rc = kms_client_keyset_check(err, sizeof(err), k, &cert, NULL, 0);
		CHECK(rc == KMS_OK || rc == KMS_ERR_AUTH || rc == KMS_ERR_RANGE);
		if (rc == KMS_OK && signed_ok && i == 0) {
			struct kms_client_keys *keys = NULL;

			rc = kms_client_keyset_open(&keys, err, sizeof(err), k, &cert, trk,
						    KMS_ID_RAW);
			CHECK((rc == KMS_OK) == (keys != NULL));
			kms_client_keys_free(keys);
		}
	}
	kms_client_response_free(r);
	return 0;
}
