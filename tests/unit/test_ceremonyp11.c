/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The key ceremony's token operations (tools/ceremony-p11.c) against SoftHSM, checked from the
 * outside with OpenSSL, as a client and the backup's reader would check them: the backup blob
 * unwraps to the KEK's value (proved by wraps made in the token and by OpenSSL agreeing), the
 * restored KEK, TrK and InK in a second token behave exactly as the originals, exports for
 * clients decrypt (RSA-OAEP SHA-1) or unwrap (RFC 5649), failures leave nothing in the token.
 *
 * One process holds one module instance at a time (SoftHSM refuses a second C_Initialize), so
 * the tests open token A or B in turn and pass only public values between them.
 */
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>

#include "common/log.h"
#include "common/secmem.h"
#include "hsm/keys.h"
#include "hsm/p11.h"
#include "tests/unit/kms_test.h"
#include "tools/ceremony-p11.h"
#include "tools/devtoken.h"

#include "common/banned.h"

#define TOKEN_A  "cer-a"
#define TOKEN_B  "cer-b"
#define SO_PIN   "12345678"
#define USER_PIN "87654321"
#define SENTINEL "S3nt1nel-ceremony-PIN-77"
#define KEK      "kms.kek"

static char dir[PATH_MAX / 4];
static char conf[PATH_MAX / 2];
static char log_path[PATH_MAX / 2];
static int logfd = -1;
static const char *module;
static struct kms_secret *upin;
static struct kms_wrap_policy pol = {CKM_AES_KEY_WRAP_PAD, KMS_WRAP_TOKEN};

/* public values passed from one test (and token) to the next; the test knows the secrets too */
static uint8_t bkey[32];      /* the backup key B */
static uint8_t kek_value[32]; /* from the backup blob, by OpenSSL */
static uint8_t kek_blob[40];  /* the KEK under B */
static uint8_t known[32];     /* a value both tokens wrap */
static uint8_t known_kek[40]; /* known under the KEK of token A */
static uint8_t trk_value[32]; /* the client's TrK (RSA-OAEP export) */
static uint8_t ink_value[32]; /* the client's InK (RFC 5649 export) */
static uint8_t trk_blob[40];  /* TrK under the KEK, for the store */
static uint8_t ink_blob[40];  /* InK under the KEK, for the store */
static uint8_t known_trk[40]; /* known under the TrK of token A */
static uint8_t ink_mac[32];   /* HMAC of a message under the InK of token A */
static int have_kek, have_keys;

static const uint8_t message[] = "TrK and InK restored from the store";

static struct kms_secret *
secret_of(const char *s)
{
	struct kms_secret *k = kms_secret_new(strlen(s));

	if (k != NULL) {
		memcpy(k->data, s, strlen(s));
	}
	return k;
}

static int
suite_init(void)
{
	char tokens[PATH_MAX / 2];

	module = kms_devtoken_module();
	if (kms_test_tmpdir(dir, sizeof(dir), "cerp11") != 0) {
		return 1;
	}
	(void)snprintf(conf, sizeof(conf), "%s/softhsm2.conf", dir);
	(void)snprintf(tokens, sizeof(tokens), "%s/tokens", dir);
	(void)snprintf(log_path, sizeof(log_path), "%s/test.log", dir);
	if (mkdir(tokens, 0700) != 0 || kms_devtoken_write_conf(conf, tokens) != KMS_OK ||
	    kms_devtoken_init_token(conf, TOKEN_A, SO_PIN, USER_PIN) != KMS_OK ||
	    kms_devtoken_init_token(conf, TOKEN_B, SO_PIN, USER_PIN) != KMS_OK) {
		return 1;
	}
	upin = secret_of(USER_PIN);
	logfd = kms_test_log_capture(log_path, "test_ceremonyp11");
	return upin == NULL || logfd < 0;
}

static int
suite_cleanup(void)
{
	kms_test_log_release(logfd);
	logfd = -1;
	kms_secret_free(upin);
	upin = NULL;
	return kms_devtoken_rmtree(dir) == KMS_OK ? 0 : 1;
}

static const char *
log_text(void)
{
	static char buf[256 * 1024];

	(void)kms_test_read_fd(logfd, buf, sizeof(buf));
	return buf;
}

/* Open token label with the user PIN in memory, borrow its session, choose the wrap mode. */
static void
open_tok(const char *label, struct kms_p11 **p, struct kms_p11_session **s)
{
	char err[256];
	int exact = 0;
	int r;

	*p = NULL;
	*s = NULL;
	CU_ASSERT_FATAL(setenv("SOFTHSM2_CONF", conf, 1) == 0);
	r = kms_cer_open(p, module, NULL, label, upin, err, sizeof(err));
	if (r != KMS_OK) {
		fprintf(stderr, "\nkms_cer_open: %s: %s\n", kms_err_name(r), err);
	}
	CU_ASSERT_EQUAL_FATAL(r, KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(*p, s), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_wrap_probe(*s, &pol, &exact), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_wrap_choose(&pol, exact, 1), KMS_OK);
}

static void
close_tok(struct kms_p11 *p, struct kms_p11_session *s)
{
	kms_p11_return(s);
	kms_p11_free(p);
}

/* OpenSSL's RFC 5649 unwrap; the length, or 0 if it does not unwrap. */
static size_t
ossl_unwrap(const uint8_t key[32], const uint8_t *blob, size_t len, uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;
	size_t n = 0;

	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL) == 1 &&
	    EVP_DecryptUpdate(c, out, &l1, blob, (int)len) == 1 &&
	    EVP_DecryptFinal_ex(c, out + l1, &l2) == 1) {
		n = (size_t)l1 + (size_t)l2;
	}
	EVP_CIPHER_CTX_free(c);
	return n;
}

/* OpenSSL's RFC 5649 wrap of 32 octets: 40 octets. */
static void
ossl_wrap(const uint8_t key[32], const uint8_t data[32], uint8_t out[40])
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	int l1 = 0, l2 = 0;

	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	CU_ASSERT_FATAL(EVP_EncryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, key, NULL) == 1);
	CU_ASSERT_FATAL(EVP_EncryptUpdate(c, out, &l1, data, 32) == 1);
	CU_ASSERT_FATAL(EVP_EncryptFinal_ex(c, out + l1, &l2) == 1);
	CU_ASSERT_EQUAL(l1 + l2, 40);
	EVP_CIPHER_CTX_free(c);
}

static int
has_label(struct kms_p11_session *s, const char *label)
{
	CK_OBJECT_HANDLE h;

	return kms_keys_find(s, &h, label) == KMS_OK;
}

static int
get_bool(struct kms_p11_session *s, CK_OBJECT_HANDLE h, CK_ATTRIBUTE_TYPE t)
{
	int v = -1;

	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &v, h, t), KMS_OK);
	return v;
}

/* The mechanisms a key of role may use, as hsm/keys.h says. */
static void
check_allowed(struct kms_p11_session *s, CK_OBJECT_HANDLE h, enum kms_key_role role)
{
	CK_MECHANISM_TYPE got[4];
	size_t len = 0;

	CU_ASSERT_EQUAL_FATAL(
		kms_p11_get_attribute(s, got, sizeof(got), &len, h, CKA_ALLOWED_MECHANISMS),
		KMS_OK);
	if (role == KMS_KEY_INK) {
		CU_ASSERT_EQUAL(len, sizeof(got[0]));
		CU_ASSERT_EQUAL(got[0], CKM_SHA256_HMAC);
		return;
	}
	/* in any order (SoftHSM sorts them) */
	if (pol.mode == KMS_WRAP_HOST_ECB) {
		CU_ASSERT_EQUAL(len, 2 * sizeof(got[0]));
		CU_ASSERT((got[0] == pol.kwp && got[1] == CKM_AES_ECB) ||
			  (got[1] == pol.kwp && got[0] == CKM_AES_ECB));
	} else {
		CU_ASSERT_EQUAL(len, sizeof(got[0]));
		CU_ASSERT_EQUAL(got[0], pol.kwp);
	}
}

/* ---- opening ---- */

static void
test_open(void)
{
	struct kms_secret *wrong = secret_of(SENTINEL);
	struct kms_p11 *p = NULL;
	char err[256];

	CU_ASSERT_FATAL(setenv("SOFTHSM2_CONF", conf, 1) == 0);
	CU_ASSERT_EQUAL(kms_cer_open(&p, module, NULL, TOKEN_A, wrong, err, sizeof(err)),
			KMS_ERR_HSM_PIN);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "refused the user PIN"));
	CU_ASSERT_EQUAL(kms_cer_open(&p, module, NULL, "no-such-token", upin, err, sizeof(err)),
			KMS_ERR_HSM_UNAVAIL);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "no initialised token labelled \"no-such-token\""));
	CU_ASSERT_EQUAL(kms_cer_open(&p, module, NULL, "a label longer than thirty-two octets",
				     upin, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	/* a label that needs percent-encoding in the URI */
	CU_ASSERT_EQUAL(kms_cer_open(&p, module, NULL, "cer a;b", upin, err, sizeof(err)),
			KMS_ERR_HSM_UNAVAIL);
	CU_ASSERT_EQUAL(kms_cer_open(&p, module, NULL, TOKEN_A, upin, err, sizeof(err)), KMS_OK);
	CU_ASSERT_PTR_NOT_NULL(p);
	kms_p11_free(p);
	kms_secret_free(wrong);
	CU_ASSERT_PTR_NULL(strstr(log_text(), SENTINEL));
}

/* ---- the KEK ---- */

static void
test_new_kek(void)
{
	struct kms_wrap_policy bad;
	struct kms_p11 *p;
	struct kms_p11_session *s;
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE, h = CK_INVALID_HANDLE;
	uint8_t blob[64], back[64], want[40], got[40];
	size_t len = 0;

	CU_ASSERT_FATAL(RAND_bytes(bkey, sizeof(bkey)) == 1);
	CU_ASSERT_FATAL(RAND_bytes(known, sizeof(known)) == 1);
	open_tok(TOKEN_A, &p, &s);

	/* failures first: each leaves nothing behind */
	CU_ASSERT_EQUAL(kms_cer_new_kek(s, &pol, KEK, bkey, blob, 39, &len, &kek),
			KMS_ERR_TOO_LARGE);
	bad = pol;
	bad.kwp = CKM_SHA256_HMAC; /* a mechanism that cannot wrap: the export fails */
	CU_ASSERT_NOT_EQUAL(kms_cer_new_kek(s, &bad, KEK, bkey, blob, sizeof(blob), &len, &kek),
			    KMS_OK);
	CU_ASSERT_EQUAL(kek, CK_INVALID_HANDLE);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT(kms_test_all_zero(blob, sizeof(blob)));
	CU_ASSERT(!has_label(s, KEK));
	CU_ASSERT_EQUAL(kms_cer_new_kek(s, &pol, "", bkey, blob, sizeof(blob), &len, &kek),
			KMS_ERR_INVALID_ARG);

	CU_ASSERT_EQUAL_FATAL(kms_cer_new_kek(s, &pol, KEK, bkey, blob, sizeof(blob), &len, &kek),
			      KMS_OK);
	CU_ASSERT_EQUAL_FATAL(len, 40);
	CU_ASSERT_NOT_EQUAL(kek, CK_INVALID_HANDLE);
	memcpy(kek_blob, blob, 40);
	/* the backup opens with OpenSSL under B to 32 octets */
	CU_ASSERT_EQUAL_FATAL(ossl_unwrap(bkey, blob, len, back), 32);
	memcpy(kek_value, back, 32);
	/* and those 32 octets are the KEK: the token's wrap under it is OpenSSL's under them */
	CU_ASSERT_EQUAL_FATAL(kms_wrap_bytes(s, &pol, kek, known, 32, got, sizeof(got), &len),
			      KMS_OK);
	CU_ASSERT_EQUAL(len, 40);
	ossl_wrap(kek_value, known, want);
	CU_ASSERT_EQUAL(memcmp(got, want, 40), 0);
	memcpy(known_kek, got, 40);

	/* locked, and as hsm/keys.h says */
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_EXTRACTABLE), 0);
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_SENSITIVE), 1);
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_TOKEN), 1);
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_PRIVATE), 1);
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_WRAP), 1);
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_UNWRAP), 1);
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_DERIVE), 0);
	check_allowed(s, kek, KMS_KEY_KEK);
	/* the only one, and it cannot be exported again */
	CU_ASSERT_EQUAL(kms_keys_find(s, &h, KEK), KMS_OK);
	CU_ASSERT_EQUAL(h, kek);
	CU_ASSERT_NOT_EQUAL(kms_wrap_object(s, &pol, kek, kek, 32, got, sizeof(got), &len), KMS_OK);

	/* a second KEK with the label is refused, and the first stays */
	CU_ASSERT_EQUAL(kms_cer_new_kek(s, &pol, KEK, bkey, blob, sizeof(blob), &len, &h),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(h, CK_INVALID_HANDLE);
	CU_ASSERT_EQUAL(kms_keys_find(s, &h, KEK), KMS_OK);
	CU_ASSERT_EQUAL(h, kek);
	close_tok(p, s);
	have_kek = 1;
}

static void
test_restore_kek(void)
{
	struct kms_p11 *p;
	struct kms_p11_session *s;
	CK_OBJECT_HANDLE kek = CK_INVALID_HANDLE, h;
	uint8_t wrong[32], got[40];
	size_t len = 0;

	CU_ASSERT_FATAL(have_kek);
	open_tok(TOKEN_B, &p, &s);
	CU_ASSERT(!has_label(s, KEK));

	/* the wrong backup key, a tampered blob, a truncated one: refused, nothing left */
	memcpy(wrong, bkey, 32);
	wrong[7] ^= 0x20;
	CU_ASSERT_EQUAL(kms_cer_restore_kek(s, &pol, KEK, wrong, kek_blob, 40, &kek), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kek, CK_INVALID_HANDLE);
	memcpy(got, kek_blob, 40);
	got[39] ^= 1;
	CU_ASSERT_EQUAL(kms_cer_restore_kek(s, &pol, KEK, bkey, got, 40, &kek), KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(kms_cer_restore_kek(s, &pol, KEK, bkey, kek_blob, 32, &kek),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT(!has_label(s, KEK));

	CU_ASSERT_EQUAL_FATAL(kms_cer_restore_kek(s, &pol, KEK, bkey, kek_blob, 40, &kek), KMS_OK);
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_EXTRACTABLE), 0);
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_SENSITIVE), 1);
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_TOKEN), 1);
	CU_ASSERT_EQUAL(get_bool(s, kek, CKA_UNWRAP), 1);
	check_allowed(s, kek, KMS_KEY_KEK);
	/* RFC 5649 is deterministic: the same value wraps alike under both KEKs */
	CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, kek, known, 32, got, sizeof(got), &len), KMS_OK);
	CU_ASSERT_EQUAL(len, 40);
	CU_ASSERT_EQUAL(memcmp(got, known_kek, 40), 0);
	/* once only */
	CU_ASSERT_EQUAL(kms_cer_restore_kek(s, &pol, KEK, bkey, kek_blob, 40, &h),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_keys_find(s, &h, KEK), KMS_OK);
	CU_ASSERT_EQUAL(h, kek);
	close_tok(p, s);
}

/* ---- client keys ---- */

static void
write_text(const char *name, const char *text, char *path, size_t cap)
{
	(void)snprintf(path, cap, "%s/%s", dir, name);
	(void)unlink(path);
	CU_ASSERT_FATAL(kms_devtoken_write_file(path, text, strlen(text), 0600) == KMS_OK);
}

static void
write_pubkey(EVP_PKEY *pk, const char *name, char *path, size_t cap)
{
	BIO *b;

	(void)snprintf(path, cap, "%s/%s", dir, name);
	(void)unlink(path);
	b = BIO_new_file(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(b);
	CU_ASSERT_FATAL(PEM_write_bio_PUBKEY(b, pk) == 1);
	BIO_free(b);
}

static EVP_PKEY *client_rsa; /* the client's key pair (OpenSSL) */

static size_t
rsa_oaep_decrypt(EVP_PKEY *pk, const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pk, NULL);
	size_t n = cap;

	if (c == NULL || EVP_PKEY_decrypt_init(c) != 1 ||
	    EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) != 1 ||
	    EVP_PKEY_CTX_set_rsa_oaep_md(c, EVP_sha1()) != 1 ||
	    EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_sha1()) != 1 ||
	    EVP_PKEY_decrypt(c, out, &n, in, len) != 1) {
		n = 0;
	}
	EVP_PKEY_CTX_free(c);
	return n;
}

static void
test_client_key_load(void)
{
	static const char hex[] =
		"000102030405060708090A0B0C0D0E0F101112131415161718191a1b1c1d1e1f";
	struct kms_cer_client_key ck;
	EVP_PKEY *small = NULL, *ec = NULL;
	char path[PATH_MAX], text[160], err[256];

	memset(&ck, 0, sizeof(ck));
	client_rsa = EVP_RSA_gen(2048);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client_rsa);

	write_pubkey(client_rsa, "rsa.pem", path, sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_OK);
	CU_ASSERT_EQUAL(ck.kind, KMS_CER_CKEY_RSA);
	CU_ASSERT_PTR_NOT_NULL(ck.rsa);
	CU_ASSERT_PTR_NULL(ck.aes);
	CU_ASSERT_EQUAL(EVP_PKEY_eq(ck.rsa, client_rsa), 1);
	kms_cer_client_key_clear(&ck);
	CU_ASSERT_PTR_NULL(ck.rsa);

	/* 64 hex digits, with or without one newline */
	write_text("kek.hex", hex, path, sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_OK);
	CU_ASSERT_EQUAL(ck.kind, KMS_CER_CKEY_AES);
	CU_ASSERT_PTR_NOT_NULL_FATAL(ck.aes);
	CU_ASSERT_EQUAL(ck.aes->len, 32);
	CU_ASSERT_EQUAL(ck.aes->data[0], 0x00);
	CU_ASSERT_EQUAL(ck.aes->data[31], 0x1f);
	kms_cer_client_key_clear(&ck);
	(void)snprintf(text, sizeof(text), "%s\n", hex);
	write_text("kek.hex", text, path, sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_OK);
	kms_cer_client_key_clear(&ck);

	/* refusals, each with a message naming the file */
	(void)snprintf(text, sizeof(text), "%s\r\n", hex);
	write_text("kek.hex", text, path, sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_ERR_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	(void)snprintf(text, sizeof(text), "%s\n\n", hex);
	write_text("kek.hex", text, path, sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_ERR_PARSE);
	(void)snprintf(text, sizeof(text), "%.63s", hex);
	write_text("kek.hex", text, path, sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_ERR_PARSE);
	(void)snprintf(text, sizeof(text), "%.63sg", hex);
	write_text("kek.hex", text, path, sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_ERR_PARSE);
	CU_ASSERT_PTR_NULL(ck.aes);
	write_text("kek.hex", "", path, sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_ERR_PARSE);
	write_text("junk.pem", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n", path,
		   sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_ERR_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "PUBLIC KEY"));
	small = EVP_RSA_gen(1024);
	CU_ASSERT_PTR_NOT_NULL_FATAL(small);
	write_pubkey(small, "small.pem", path, sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_ERR_RANGE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "1024 bits"));
	ec = EVP_EC_gen("P-256");
	CU_ASSERT_PTR_NOT_NULL_FATAL(ec);
	write_pubkey(ec, "ec.pem", path, sizeof(path));
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_ERR_PARSE);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "not an RSA key"));
	CU_ASSERT_PTR_NULL(ck.rsa);
	(void)snprintf(path, sizeof(path), "%s/missing", dir);
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_ERR_IO);
	/* a symbolic link is not followed */
	{
		char target[PATH_MAX];

		write_text("kek.hex", hex, target, sizeof(target));
		(void)snprintf(path, sizeof(path), "%s/link.hex", dir);
		CU_ASSERT_FATAL(symlink(target, path) == 0);
		CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, path, err, sizeof(err)), KMS_ERR_IO);
	}
	CU_ASSERT_EQUAL(kms_cer_client_key_load(&ck, dir, err, sizeof(err)), KMS_ERR_IO);
	EVP_PKEY_free(small);
	EVP_PKEY_free(ec);
}

static void
test_enrol(void)
{
	struct kms_cer_client_key rsa, aes;
	struct kms_p11 *p;
	struct kms_p11_session *s;
	CK_OBJECT_HANDLE kek, trk = CK_INVALID_HANDLE, ink = CK_INVALID_HANDLE, h;
	uint8_t client[1024], blob[64], back[512], want[40], got[40];
	uint8_t aes_key[32];
	size_t client_len = 0, blob_len = 0, len = 0;
	unsigned int mac_len = 0;
	char path[PATH_MAX], hex[80], err[256];
	size_t i;

	CU_ASSERT_FATAL(have_kek);
	CU_ASSERT_PTR_NOT_NULL_FATAL(client_rsa);
	write_pubkey(client_rsa, "alice.pem", path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(kms_cer_client_key_load(&rsa, path, err, sizeof(err)), KMS_OK);
	CU_ASSERT_FATAL(RAND_bytes(aes_key, sizeof(aes_key)) == 1);
	for (i = 0; i < 32; i++) {
		(void)snprintf(hex + 2 * i, 3, "%02x", aes_key[i]);
	}
	write_text("alice.kek", hex, path, sizeof(path));
	CU_ASSERT_EQUAL_FATAL(kms_cer_client_key_load(&aes, path, err, sizeof(err)), KMS_OK);

	open_tok(TOKEN_A, &p, &s);
	CU_ASSERT_EQUAL_FATAL(kms_keys_find(s, &kek, KEK), KMS_OK);

	/* TrK for an RSA client: OAEP with SHA-1, which SoftHSM 2.6.1 offers */
	CU_ASSERT_EQUAL_FATAL(kms_cer_enrol_key(s, &pol, kek, 0, "alice.trk", &rsa, 1, client,
						sizeof(client), &client_len, blob, sizeof(blob),
						&blob_len, &trk),
			      KMS_OK);
	CU_ASSERT_EQUAL(client_len, 256);
	CU_ASSERT_EQUAL(blob_len, 40);
	CU_ASSERT_EQUAL_FATAL(rsa_oaep_decrypt(client_rsa, client, client_len, back, sizeof(back)),
			      32);
	memcpy(trk_value, back, 32);
	memcpy(trk_blob, blob, 40);
	/* the store's copy is the same key under the KEK */
	CU_ASSERT_EQUAL_FATAL(ossl_unwrap(kek_value, blob, blob_len, back), 32);
	CU_ASSERT_EQUAL(memcmp(back, trk_value, 32), 0);
	/* and the token's TrK is that key: its wrap is OpenSSL's under the client's copy */
	CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, trk, known, 32, got, sizeof(got), &len), KMS_OK);
	ossl_wrap(trk_value, known, want);
	CU_ASSERT_EQUAL(memcmp(got, want, 40), 0);
	memcpy(known_trk, got, 40);
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_EXTRACTABLE), 0);
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_SENSITIVE), 1);
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_TOKEN), 1);
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_WRAP), 1);
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_UNWRAP), 0);
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_SIGN), 0);
	check_allowed(s, trk, KMS_KEY_TRK);

	/* InK for an AES client */
	CU_ASSERT_EQUAL_FATAL(kms_cer_enrol_key(s, &pol, kek, 1, "alice.ink", &aes, 0, client,
						sizeof(client), &client_len, blob, sizeof(blob),
						&blob_len, &ink),
			      KMS_OK);
	CU_ASSERT_EQUAL(client_len, 40);
	CU_ASSERT_EQUAL(blob_len, 40);
	CU_ASSERT_EQUAL_FATAL(ossl_unwrap(aes_key, client, client_len, back), 32);
	memcpy(ink_value, back, 32);
	memcpy(ink_blob, blob, 40);
	CU_ASSERT_EQUAL_FATAL(ossl_unwrap(kek_value, blob, blob_len, back), 32);
	CU_ASSERT_EQUAL(memcmp(back, ink_value, 32), 0);
	CU_ASSERT_EQUAL(kms_hmac_sha256(s, ink, message, sizeof(message), ink_mac), KMS_OK);
	CU_ASSERT_PTR_NOT_NULL(
		HMAC(EVP_sha256(), ink_value, 32, message, sizeof(message), back, &mac_len));
	CU_ASSERT_EQUAL(mac_len, 32);
	CU_ASSERT_EQUAL(memcmp(back, ink_mac, 32), 0);
	CU_ASSERT_EQUAL(get_bool(s, ink, CKA_EXTRACTABLE), 0);
	CU_ASSERT_EQUAL(get_bool(s, ink, CKA_SIGN), 1);
	CU_ASSERT_EQUAL(get_bool(s, ink, CKA_WRAP), 0);
	check_allowed(s, ink, KMS_KEY_INK);

	/* the other combinations work too */
	CU_ASSERT_EQUAL(kms_cer_enrol_key(s, &pol, kek, 0, "carol.trk", &aes, 0, client,
					  sizeof(client), &client_len, blob, sizeof(blob),
					  &blob_len, &h),
			KMS_OK);
	CU_ASSERT_EQUAL(ossl_unwrap(aes_key, client, client_len, back), 32);
	CU_ASSERT_EQUAL(kms_cer_enrol_key(s, &pol, kek, 1, "carol.ink", &rsa, 1, client,
					  sizeof(client), &client_len, blob, sizeof(blob),
					  &blob_len, &h),
			KMS_OK);
	CU_ASSERT_EQUAL(rsa_oaep_decrypt(client_rsa, client, client_len, back, sizeof(back)), 32);

	/* failures destroy the new key and clear the outputs */
	CU_ASSERT_NOT_EQUAL(kms_cer_enrol_key(s, &pol, kek, 0, "bob.trk", &rsa, 0, client,
					      sizeof(client), &client_len, blob, sizeof(blob),
					      &blob_len, &h),
			    KMS_OK); /* OAEP with SHA-256: SoftHSM 2.6.1 refuses it */
	CU_ASSERT_EQUAL(h, CK_INVALID_HANDLE);
	CU_ASSERT_EQUAL(client_len, 0);
	CU_ASSERT(kms_test_all_zero(client, sizeof(client)));
	CU_ASSERT(!has_label(s, "bob.trk"));
	CU_ASSERT_EQUAL(kms_cer_enrol_key(s, &pol, kek, 0, "bob.trk", &rsa, 1, client, 255,
					  &client_len, blob, sizeof(blob), &blob_len, &h),
			KMS_ERR_TOO_LARGE);
	CU_ASSERT(!has_label(s, "bob.trk"));
	CU_ASSERT_EQUAL(kms_cer_enrol_key(s, &pol, CK_INVALID_HANDLE, 1, "bob.ink", &aes, 0, client,
					  sizeof(client), &client_len, blob, sizeof(blob),
					  &blob_len, &h),
			KMS_ERR_HSM);
	CU_ASSERT(kms_test_all_zero(client, sizeof(client)));
	CU_ASSERT(!has_label(s, "bob.ink"));
	CU_ASSERT_EQUAL(kms_cer_enrol_key(s, &pol, kek, 1, "alice.ink", &aes, 0, client,
					  sizeof(client), &client_len, blob, sizeof(blob),
					  &blob_len, &h),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_keys_find(s, &h, "alice.ink"), KMS_OK);
	CU_ASSERT_EQUAL(h, ink);
	close_tok(p, s);
	kms_cer_client_key_clear(&rsa);
	kms_cer_client_key_clear(&aes);
	kms_memzero(aes_key, sizeof(aes_key));
	have_keys = 1;
}

static void
test_import(void)
{
	struct kms_p11 *p;
	struct kms_p11_session *s;
	CK_OBJECT_HANDLE kek, trk = CK_INVALID_HANDLE, ink = CK_INVALID_HANDLE, h;
	uint8_t got[40], mac[32], bad[40];
	size_t len = 0;
	int exists = -1;

	CU_ASSERT_FATAL(have_keys);
	open_tok(TOKEN_B, &p, &s);
	CU_ASSERT_EQUAL_FATAL(kms_keys_find(s, &kek, KEK), KMS_OK);

	/* a blob that does not unwrap under the KEK: refused, nothing left */
	memcpy(bad, trk_blob, 40);
	bad[12] ^= 0x80;
	CU_ASSERT_EQUAL(kms_cer_import_key(s, &pol, kek, 0, "alice.trk", bad, 40, &exists, &h),
			KMS_ERR_AUTH);
	CU_ASSERT_EQUAL(exists, 0);
	CU_ASSERT_EQUAL(h, CK_INVALID_HANDLE);
	CU_ASSERT_EQUAL(kms_cer_import_key(s, &pol, kek, 0, "alice.trk", trk_blob, 39, &exists, &h),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT(!has_label(s, "alice.trk"));

	CU_ASSERT_EQUAL_FATAL(
		kms_cer_import_key(s, &pol, kek, 0, "alice.trk", trk_blob, 40, &exists, &trk),
		KMS_OK);
	CU_ASSERT_EQUAL(exists, 0);
	CU_ASSERT_EQUAL_FATAL(
		kms_cer_import_key(s, &pol, kek, 1, "alice.ink", ink_blob, 40, &exists, &ink),
		KMS_OK);
	/* the same TrK: the same wrap; the same InK: the same HMAC */
	CU_ASSERT_EQUAL(kms_wrap_bytes(s, &pol, trk, known, 32, got, sizeof(got), &len), KMS_OK);
	CU_ASSERT_EQUAL(len, 40);
	CU_ASSERT_EQUAL(memcmp(got, known_trk, 40), 0);
	CU_ASSERT_EQUAL(kms_hmac_sha256(s, ink, message, sizeof(message), mac), KMS_OK);
	CU_ASSERT_EQUAL(memcmp(mac, ink_mac, 32), 0);
	/* with the attributes of hsm/keys.h, not extractable */
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_EXTRACTABLE), 0);
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_SENSITIVE), 1);
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_TOKEN), 1);
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_WRAP), 1);
	CU_ASSERT_EQUAL(get_bool(s, trk, CKA_UNWRAP), 0);
	check_allowed(s, trk, KMS_KEY_TRK);
	CU_ASSERT_EQUAL(get_bool(s, ink, CKA_EXTRACTABLE), 0);
	CU_ASSERT_EQUAL(get_bool(s, ink, CKA_SIGN), 1);
	CU_ASSERT_EQUAL(get_bool(s, ink, CKA_VERIFY), 1);
	CU_ASSERT_EQUAL(get_bool(s, ink, CKA_WRAP), 0);
	check_allowed(s, ink, KMS_KEY_INK);
	{
		CK_ULONG type = 0;

		CU_ASSERT_EQUAL(kms_p11_get_ulong(s, &type, ink, CKA_KEY_TYPE), KMS_OK);
		CU_ASSERT_EQUAL(type, CKK_GENERIC_SECRET);
		CU_ASSERT_EQUAL(kms_p11_get_ulong(s, &type, trk, CKA_KEY_TYPE), KMS_OK);
		CU_ASSERT_EQUAL(type, CKK_AES);
	}
	/* a restore run again: the label exists, and says so */
	CU_ASSERT_EQUAL(kms_cer_import_key(s, &pol, kek, 0, "alice.trk", trk_blob, 40, &exists, &h),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(exists, 1);
	CU_ASSERT_EQUAL(h, CK_INVALID_HANDLE);
	CU_ASSERT_EQUAL(kms_keys_find(s, &h, "alice.trk"), KMS_OK);
	CU_ASSERT_EQUAL(h, trk);
	close_tok(p, s);
}

/* ---- token initialisation ---- */

static void
test_init_token(void)
{
	struct kms_secret *so = secret_of("so-" SENTINEL);
	struct kms_secret *user = secret_of("user-pin-1234");
	struct kms_secret *wrong = secret_of(SENTINEL);
	struct kms_p11 *p = NULL;
	char idir[PATH_MAX / 2], iconf[PATH_MAX], itokens[PATH_MAX], err[256];
	unsigned long slot = 99, slot2 = 99;

	CU_ASSERT_FATAL(so != NULL && user != NULL && wrong != NULL);
	(void)snprintf(idir, sizeof(idir), "%s/init", dir);
	(void)snprintf(iconf, sizeof(iconf), "%s/softhsm2.conf", idir);
	(void)snprintf(itokens, sizeof(itokens), "%s/tokens", idir);
	CU_ASSERT_FATAL(mkdir(idir, 0700) == 0 && mkdir(itokens, 0700) == 0);
	CU_ASSERT_FATAL(kms_devtoken_write_conf(iconf, itokens) == KMS_OK);
	CU_ASSERT_FATAL(setenv("SOFTHSM2_CONF", iconf, 1) == 0);

	CU_ASSERT_EQUAL(
		kms_cer_init_token(module, NULL, 0, 0, "", so, user, &slot, err, sizeof(err)),
		KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_cer_init_token("libsofthsm2.so", NULL, 0, 0, "cer-init", so, user,
					   &slot, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_cer_init_token("/nonexistent/lib.so", NULL, 0, 0, "cer-init", so, user,
					   &slot, err, sizeof(err)),
			KMS_ERR_HSM_UNAVAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "/nonexistent/lib.so"));
	CU_ASSERT_EQUAL(kms_cer_init_token(module, NULL, 1, 4242, "cer-init", so, user, &slot, err,
					   sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "slot 4242"));

	CU_ASSERT_EQUAL_FATAL(kms_cer_init_token(module, NULL, 0, 0, "cer-init", so, user, &slot,
						 err, sizeof(err)),
			      KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	/* the user PIN opens it; another does not */
	CU_ASSERT_EQUAL_FATAL(kms_cer_open(&p, module, NULL, "cer-init", user, err, sizeof(err)),
			      KMS_OK);
	/* SoftHSM numbers a slot after its token's serial once initialised: ask for the new id */
	{
		struct kms_p11_session *s = NULL;
		CK_SESSION_INFO si;

		CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
		CU_ASSERT_EQUAL(kms_p11_fn(s)->C_GetSessionInfo(kms_p11_handle(s), &si), CKR_OK);
		slot = (unsigned long)si.slotID;
		kms_p11_return(s);
	}
	kms_p11_free(p);
	p = NULL;
	CU_ASSERT_EQUAL(kms_cer_open(&p, module, NULL, "cer-init", wrong, err, sizeof(err)),
			KMS_ERR_HSM_PIN);
	CU_ASSERT_PTR_NULL(p);
	/* the same label again, anywhere: refused */
	CU_ASSERT_EQUAL(kms_cer_init_token(module, NULL, 0, 0, "cer-init", so, user, &slot2, err,
					   sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already initialised"));
	/* an initialised slot is never erased */
	CU_ASSERT_EQUAL(kms_cer_init_token(module, NULL, 1, slot, "cer-other", so, user, &slot2,
					   err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "already initialised"));
	/* and the first token still opens */
	CU_ASSERT_EQUAL(kms_cer_open(&p, module, NULL, "cer-init", user, err, sizeof(err)), KMS_OK);
	kms_p11_free(p);
	p = NULL;
	/* a second one in the next free slot */
	CU_ASSERT_EQUAL(kms_cer_init_token(module, NULL, 0, 0, "cer-other", so, user, &slot2, err,
					   sizeof(err)),
			KMS_OK);
	CU_ASSERT_NOT_EQUAL(slot2, slot);
	/* a token already open in this program: C_Initialize is refused, said in words */
	CU_ASSERT_EQUAL_FATAL(kms_cer_open(&p, module, NULL, "cer-other", user, err, sizeof(err)),
			      KMS_OK);
	CU_ASSERT_NOT_EQUAL(kms_cer_init_token(module, NULL, 0, 0, "cer-third", so, user, &slot2,
					       err, sizeof(err)),
			    KMS_OK);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "CKR_CRYPTOKI_ALREADY_INITIALIZED"));
	kms_p11_free(p);

	CU_ASSERT_PTR_NULL(strstr(log_text(), SENTINEL));
	CU_ASSERT_PTR_NULL(strstr(err, SENTINEL));
	kms_secret_free(so);
	kms_secret_free(user);
	kms_secret_free(wrong);
	CU_ASSERT(setenv("SOFTHSM2_CONF", conf, 1) == 0);
}

/* ---- PIN entry from a pipe ---- */

/* kms_cer_read_pin with text on stdin (a pipe); stdin is put back afterwards. */
static int
read_pin_from(const char *text, int confirm, struct kms_secret **out, char *rest, size_t cap)
{
	int fds[2];
	int saved;
	int r;
	ssize_t n;

	CU_ASSERT_FATAL(pipe(fds) == 0);
	CU_ASSERT_FATAL(write(fds[1], text, strlen(text)) == (ssize_t)strlen(text));
	(void)close(fds[1]);
	saved = dup(STDIN_FILENO);
	CU_ASSERT_FATAL(saved >= 0);
	CU_ASSERT_FATAL(dup2(fds[0], STDIN_FILENO) == STDIN_FILENO);
	(void)close(fds[0]);
	r = kms_cer_read_pin("user PIN", confirm, out);
	/* what was not consumed */
	n = read(STDIN_FILENO, rest, cap - 1);
	rest[n > 0 ? (size_t)n : 0] = '\0';
	CU_ASSERT_FATAL(dup2(saved, STDIN_FILENO) == STDIN_FILENO);
	(void)close(saved);
	return r;
}

static void
expect_pin(const char *text, int confirm, int want_r, const char *want_pin, const char *want_rest)
{
	struct kms_secret *pin = (struct kms_secret *)(uintptr_t)1;
	char rest[512];
	int r = read_pin_from(text, confirm, &pin, rest, sizeof(rest));

	CU_ASSERT_EQUAL(r, want_r);
	if (r != want_r) {
		fprintf(stderr, "\n'%s': %s\n", text, kms_err_name(r));
	}
	if (want_r == KMS_OK) {
		CU_ASSERT_PTR_NOT_NULL_FATAL(pin);
		CU_ASSERT_EQUAL(pin->len, strlen(want_pin));
		CU_ASSERT(pin->len == strlen(want_pin) &&
			  memcmp(pin->data, want_pin, pin->len) == 0);
	} else {
		CU_ASSERT_PTR_NULL(pin);
	}
	if (want_rest != NULL) {
		CU_ASSERT_STRING_EQUAL(rest, want_rest);
	}
	kms_secret_free(pin == (struct kms_secret *)(uintptr_t)1 ? NULL : pin);
}

static void
test_read_pin(void)
{
	char big[400];

	CU_ASSERT(ftruncate(logfd, 0) == 0);
	/* one line per ask; nothing after it is consumed */
	expect_pin("1234\nnext line\n", 0, KMS_OK, "1234", "next line\n");
	expect_pin("pass word 42\npass word 42\nyes\n", 1, KMS_OK, "pass word 42", "yes\n");
	expect_pin("~!@#$%^&*()\n", 0, KMS_OK, "~!@#$%^&*()", "");
	expect_pin("last-line-without-newline", 0, KMS_OK, "last-line-without-newline", "");
	/* the two entries differ */
	expect_pin(SENTINEL "\n" SENTINEL "x\n", 1, KMS_ERR_AUTH, NULL, "");
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "the two entries differ"));
	expect_pin("12345\n1234\n", 1, KMS_ERR_AUTH, NULL, "");
	/* the rules: 4..255 printable ASCII, no blank at either end */
	expect_pin("123\n", 0, KMS_ERR_RANGE, NULL, "");
	expect_pin("\n", 0, KMS_ERR_RANGE, NULL, "");
	expect_pin(" 1234\n", 0, KMS_ERR_RANGE, NULL, "");
	expect_pin("1234 \n", 0, KMS_ERR_RANGE, NULL, "");
	expect_pin("12\t34\n", 0, KMS_ERR_RANGE, NULL, "");
	expect_pin("1234\r\n", 0, KMS_ERR_RANGE, NULL, "");
	expect_pin("12\xc3\xa9"
		   "34\n",
		   0, KMS_ERR_RANGE, NULL, "");
	memset(big, 'a', 255);
	memcpy(big + 255, "\nz\n", 4);
	{
		char want[256];

		memcpy(want, big, 255);
		want[255] = '\0';
		expect_pin(big, 0, KMS_OK, want, "z\n");
	}
	memset(big, 'a', 256);
	memcpy(big + 256, "\nz\n", 4);
	expect_pin(big, 0, KMS_ERR_RANGE, NULL, "z\n"); /* read to its end, not beyond */
	/* end of input */
	expect_pin("", 0, KMS_ERR_IO, NULL, "");
	expect_pin("1234\n", 1, KMS_ERR_IO, NULL, "");
	CU_ASSERT_EQUAL(kms_cer_read_pin(NULL, 0, &(struct kms_secret *){NULL}),
			KMS_ERR_INVALID_ARG);
	/* never a PIN in the log */
	CU_ASSERT_PTR_NULL(strstr(log_text(), SENTINEL));
	CU_ASSERT_PTR_NULL(strstr(log_text(), "pass word"));
}

static void
test_cleanup_rsa(void)
{
	EVP_PKEY_free(client_rsa);
	client_rsa = NULL;
}

static CU_TestInfo tests[] = {
	{"open with the PIN in memory", test_open},
	{"new KEK: one export under B, locked", test_new_kek},
	{"restore the KEK into a second token", test_restore_kek},
	{"client key files", test_client_key_load},
	{"enrol TrK and InK for RSA and AES clients", test_enrol},
	{"import TrK and InK into the second token", test_import},
	{"init token", test_init_token},
	{"PIN from a pipe", test_read_pin},
	{"(free the client's key)", test_cleanup_rsa},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"ceremony token operations (SoftHSM)", suite_init, suite_cleanup, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	/* a PIN read from a pipe whose writer is gone must not kill the test */
	(void)signal(SIGPIPE, SIG_IGN);
	return kms_test_main(suites);
}
