/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The signed ceremony transcript (tools/transcript.c). The signer is an OpenSSL P-256 key in
 * this process (the token's place); signatures are also checked with OpenSSL's own
 * EVP_DigestVerify over the file's bytes, and the fingerprint with the openssl command, so
 * that neither check goes through the code under test. Transcripts with semantic faults are
 * built here by hand and signed correctly, so that the verifier's checks after the signature's
 * reach are tested too.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "common/hex.h"
#include "tests/unit/kms_test.h"
#include "tools/transcript.h"

#include "common/banned.h"

#define BUF_CAP (64 * 1024)

static char dir[256];
static EVP_PKEY *key_a, *key_b;
static uint8_t point_a[65], point_b[65];

/* --- the signer: an OpenSSL key --- */

static int
get_point(EVP_PKEY *pk, uint8_t out[65])
{
	size_t len = 0;

	return EVP_PKEY_get_octet_string_param(pk, OSSL_PKEY_PARAM_PUB_KEY, out, 65, &len) == 1 &&
	       len == 65 && out[0] == 0x04;
}

/* The callback of kms_transcript_finish: ECDSA of the digest with the EVP_PKEY ctx. */
static int
ossl_sign(void *ctx, const uint8_t digest[32], uint8_t sig[64])
{
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new((EVP_PKEY *)ctx, NULL);
	unsigned char der[80];
	const unsigned char *p = der;
	size_t der_len = sizeof(der);
	ECDSA_SIG *es = NULL;
	int r = KMS_ERR_CRYPTO;

	if (pc == NULL || EVP_PKEY_sign_init(pc) != 1 ||
	    EVP_PKEY_sign(pc, der, &der_len, digest, 32) != 1 ||
	    (es = d2i_ECDSA_SIG(NULL, &p, (long)der_len)) == NULL ||
	    BN_bn2binpad(ECDSA_SIG_get0_r(es), sig, 32) != 32 ||
	    BN_bn2binpad(ECDSA_SIG_get0_s(es), sig + 32, 32) != 32) {
		goto out;
	}
	r = KMS_OK;
out:
	ECDSA_SIG_free(es);
	EVP_PKEY_CTX_free(pc);
	return r;
}

static int
failing_sign(void *ctx, const uint8_t digest[32], uint8_t sig[64])
{
	(void)ctx;
	(void)digest;
	memset(sig, 0, 64);
	return KMS_ERR_HSM;
}

/* OpenSSL's own check: ECDSA-SHA256 of data[0..len) with pk, signature r || s. */
static int
ossl_verify(EVP_PKEY *pk, const uint8_t *data, size_t len, const uint8_t sig[64])
{
	EVP_MD_CTX *mc = EVP_MD_CTX_new();
	ECDSA_SIG *es = ECDSA_SIG_new();
	BIGNUM *r = BN_bin2bn(sig, 32, NULL), *s = BN_bin2bn(sig + 32, 32, NULL);
	unsigned char *der = NULL;
	int der_len, ok = 0;

	if (mc == NULL || es == NULL || r == NULL || s == NULL || ECDSA_SIG_set0(es, r, s) != 1) {
		BN_free(r);
		BN_free(s);
		goto out;
	}
	if ((der_len = i2d_ECDSA_SIG(es, &der)) <= 0 ||
	    EVP_DigestVerifyInit(mc, NULL, EVP_sha256(), NULL, pk) != 1) {
		goto out;
	}
	ok = EVP_DigestVerify(mc, der, (size_t)der_len, data, len) == 1;
out:
	OPENSSL_free(der);
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(mc);
	return ok;
}

static int
suite_init(void)
{
	if (kms_test_tmpdir(dir, sizeof(dir), "transcript") != 0) {
		return -1;
	}
	key_a = EVP_EC_gen("P-256");
	key_b = EVP_EC_gen("P-256");
	if (key_a == NULL || key_b == NULL || !get_point(key_a, point_a) ||
	    !get_point(key_b, point_b)) {
		return -1;
	}
	return 0;
}

static int
suite_clean(void)
{
	EVP_PKEY_free(key_a);
	EVP_PKEY_free(key_b);
	kms_test_rmdir(dir);
	return 0;
}

/* --- helpers --- */

static void
path_of(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	CU_ASSERT_FATAL(n > 0 && (size_t)n < cap);
}

/* The whole file path into buf (BUF_CAP); its length, or (size_t)-1. */
static size_t
slurp(const char *path, uint8_t *buf)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		return (size_t)-1;
	}
	n = fread(buf, 1, BUF_CAP, f);
	fclose(f);
	return n;
}

static int
verify(const uint8_t *data, size_t len, char fpr[65], size_t *entries)
{
	char err[160];

	return kms_transcript_verify(data, len, fpr, entries, err, sizeof(err));
}

/* A signed transcript at name with three entries; its bytes into buf, length into *len. */
static void
make_signed(const char *name, uint8_t *buf, size_t *len)
{
	struct kms_transcript *t = NULL;
	char path[512];

	path_of(path, sizeof(path), name);
	CU_ASSERT_FATAL(kms_transcript_create(&t, path, "cer-2024-01", "Zoë Operator",
					      "kms 0.1.0") == KMS_OK);
	CU_ASSERT_FATAL(kms_transcript_add(t, "init-token", "token %s initialised", "KMS-A") ==
			KMS_OK);
	CU_ASSERT_FATAL(kms_transcript_add(t, "generate", "KPAK fingerprint %s", "AB12") == KMS_OK);
	CU_ASSERT_FATAL(kms_transcript_add(t, "backup", "3-of-5 shares: Ünïcödé ok") == KMS_OK);
	CU_ASSERT_FATAL(kms_transcript_finish(t, point_a, ossl_sign, key_a) == KMS_OK);
	*len = slurp(path, buf);
	CU_ASSERT_FATAL(*len != (size_t)-1 && *len > 0);
}

/* Append the signed-by and signature lines for body (signed with pk, named as point) to out. */
static size_t
sign_body_fpr(const char *body, EVP_PKEY *pk, const uint8_t point[65], const char *fpr_override,
	      uint8_t *out, size_t cap)
{
	char ph[131], fpr[65], sh[129];
	uint8_t md[32], sig[64];
	size_t len;
	int n;

	CU_ASSERT_FATAL(kms_hex_encode(ph, sizeof(ph), point, 65) == KMS_OK);
	kms_transcript_fingerprint(point, fpr);
	n = snprintf((char *)out, cap, "%ssigned-by: %s %s\n", body, ph,
		     fpr_override != NULL ? fpr_override : fpr);
	CU_ASSERT_FATAL(n > 0 && (size_t)n < cap);
	len = (size_t)n;
	SHA256(out, len, md);
	CU_ASSERT_FATAL(ossl_sign(pk, md, sig) == KMS_OK);
	CU_ASSERT_FATAL(kms_hex_encode(sh, sizeof(sh), sig, sizeof(sig)) == KMS_OK);
	n = snprintf((char *)out + len, cap - len, "signature: %s\n", sh);
	CU_ASSERT_FATAL(n > 0 && (size_t)n < cap - len);
	return len + (size_t)n;
}

static size_t
sign_body(const char *body, EVP_PKEY *pk, const uint8_t point[65], uint8_t *out, size_t cap)
{
	return sign_body_fpr(body, pk, point, NULL, out, cap);
}

#define HDR                                                                                        \
	"KMS CEREMONY TRANSCRIPT 1\nceremony: c1\noperator: op\nversion: v1\nhost: h\n"            \
	"started: 2024-02-28T10:00:00Z\n"

/* Verify body as signed by key A; the verdict. */
static int
verify_body(const char *body, size_t *entries)
{
	static uint8_t buf[BUF_CAP];
	char fpr[65];
	size_t len = sign_body(body, key_a, point_a, buf, sizeof(buf));

	return verify(buf, len, fpr, entries);
}

/* --- tests --- */

static void
test_roundtrip(void)
{
	static uint8_t buf[BUF_CAP];
	char fpr[65], want[65], err[160];
	size_t len, entries = 99, sig_off;
	struct stat st;
	char path[512];
	uint8_t sig[64];
	const char *p;

	make_signed("ok.txt", buf, &len);
	CU_ASSERT_EQUAL(kms_transcript_verify(buf, len, fpr, &entries, err, sizeof(err)), KMS_OK);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(entries, 3);
	kms_transcript_fingerprint(point_a, want);
	CU_ASSERT_STRING_EQUAL(fpr, want);

	/* The file's shape: header, entries numbered from 1, the two end lines. */
	CU_ASSERT_EQUAL(memcmp(buf,
			       "KMS CEREMONY TRANSCRIPT 1\nceremony: cer-2024-01\n"
			       "operator: Zoë Operator\nversion: kms 0.1.0\nhost: ",
			       strlen("KMS CEREMONY TRANSCRIPT 1\nceremony: cer-2024-01\n"
				      "operator: Zoë Operator\nversion: kms 0.1.0\nhost: ")),
			0);
	buf[len] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)buf, "Z init-token: token KMS-A initialised\n"));
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)buf, "\n1 20"));
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)buf, "\n3 20"));
	CU_ASSERT_PTR_NULL(strstr((char *)buf, "\n4 "));
	p = strstr((char *)buf, "\nsignature: ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	sig_off = (size_t)(p + 1 - (char *)buf);
	CU_ASSERT_EQUAL(len, sig_off + 11 + 128 + 1);

	/* OpenSSL itself agrees: ECDSA-SHA256 over every octet before the signature line. */
	CU_ASSERT_FATAL(kms_hex_decode(sig, sizeof(sig), (const char *)buf + sig_off + 11, 128) ==
			KMS_OK);
	CU_ASSERT_TRUE(ossl_verify(key_a, buf, sig_off, sig));
	CU_ASSERT_FALSE(ossl_verify(key_b, buf, sig_off, sig));

	/* Exactly mode 0640, whatever the umask. */
	path_of(path, sizeof(path), "ok.txt");
	CU_ASSERT_EQUAL_FATAL(stat(path, &st), 0);
	CU_ASSERT_EQUAL(st.st_mode & 07777, 0640);
	CU_ASSERT_TRUE(S_ISREG(st.st_mode));
}

/* Every single-octet change anywhere is detected: AUTH or PARSE, never OK. */
static void
test_every_byte_changed(void)
{
	static uint8_t buf[BUF_CAP];
	static const uint8_t masks[] = {0x01, 0x02, 0x20, 0x40, 0x80};
	size_t len, i, m, entries;
	unsigned int wrong = 0, tried = 0;
	uint8_t orig;
	char fpr[65];
	int r;

	make_signed("flip.txt", buf, &len);
	for (i = 0; i < len; i++) {
		orig = buf[i];
		for (m = 0; m <= sizeof(masks); m++) {
			buf[i] = m < sizeof(masks) ? (uint8_t)(orig ^ masks[m]) : (uint8_t)'\n';
			if (buf[i] == orig) {
				continue;
			}
			tried++;
			r = verify(buf, len, fpr, &entries);
			if ((r != KMS_ERR_AUTH && r != KMS_ERR_PARSE) || fpr[0] != '\0' ||
			    entries != 0) {
				if (wrong < 5) {
					fprintf(stderr, "offset %zu value %02x: %d\n", i, buf[i],
						r);
				}
				wrong++;
			}
		}
		buf[i] = orig;
	}
	CU_ASSERT_EQUAL(wrong, 0);
	CU_ASSERT_TRUE(tried > 5 * len);
	/* and untouched it still verifies */
	CU_ASSERT_EQUAL(verify(buf, len, fpr, &entries), KMS_OK);
}

/* Every proper prefix is an incomplete transcript; trailing octets are refused. */
static void
test_truncation_and_trailing(void)
{
	static uint8_t buf[BUF_CAP];
	size_t len, i, entries;
	unsigned int wrong = 0;
	char fpr[65];

	make_signed("cut.txt", buf, &len);
	for (i = 0; i < len; i++) {
		if (verify(buf, i, fpr, &entries) != KMS_ERR_TRUNCATED || fpr[0] != '\0') {
			wrong++;
		}
	}
	CU_ASSERT_EQUAL(wrong, 0);
	/* anything after the signature line */
	buf[len] = '\n';
	CU_ASSERT_EQUAL(verify(buf, len + 1, fpr, &entries), KMS_ERR_PARSE);
	buf[len] = 'x';
	CU_ASSERT_EQUAL(verify(buf, len + 1, fpr, &entries), KMS_ERR_PARSE);
	memcpy(buf + len, "4 2099-01-01T00:00:00Z late: entry\n", 35);
	CU_ASSERT_EQUAL(verify(buf, len + 35, fpr, &entries), KMS_ERR_PARSE);
}

static void
test_abandoned_and_unfinished(void)
{
	static uint8_t buf[BUF_CAP];
	struct kms_transcript *t = NULL;
	char path[512], fpr[65], err[160];
	size_t len, entries;

	path_of(path, sizeof(path), "abandoned.txt");
	CU_ASSERT_FATAL(kms_transcript_create(&t, path, "c", "o", "v") == KMS_OK);
	CU_ASSERT_FATAL(kms_transcript_add(t, "init-token", "done") == KMS_OK);
	/* a run in progress (or killed now): every entry is there, no signature */
	len = slurp(path, buf);
	CU_ASSERT_EQUAL(kms_transcript_verify(buf, len, fpr, &entries, err, sizeof(err)),
			KMS_ERR_TRUNCATED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "did not finish"));
	CU_ASSERT_EQUAL(entries, 0);
	CU_ASSERT_STRING_EQUAL(fpr, "");
	kms_transcript_abandon(t, "operator quit at generate");
	len = slurp(path, buf);
	CU_ASSERT_FATAL(len > 47);
	CU_ASSERT_EQUAL(
		memcmp(buf + len - 47, "\nended: not signed (operator quit at generate)\n", 47), 0);
	CU_ASSERT_EQUAL(kms_transcript_verify(buf, len, fpr, &entries, err, sizeof(err)),
			KMS_ERR_TRUNCATED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "abandoned"));

	/* a reason that is not text is not written as it is */
	path_of(path, sizeof(path), "abandoned2.txt");
	CU_ASSERT_FATAL(kms_transcript_create(&t, path, "c", "o", "v") == KMS_OK);
	kms_transcript_abandon(t, "bad\nreason");
	len = slurp(path, buf);
	CU_ASSERT_FATAL(len > 40);
	buf[len] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)buf, "\nended: not signed (reason not printable)\n"));
	CU_ASSERT_EQUAL(verify(buf, len, fpr, &entries), KMS_ERR_TRUNCATED);

	path_of(path, sizeof(path), "abandoned3.txt");
	CU_ASSERT_FATAL(kms_transcript_create(&t, path, "c", "o", "v") == KMS_OK);
	kms_transcript_abandon(t, NULL);
	len = slurp(path, buf);
	buf[len] = '\0';
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)buf, "\nended: not signed (no reason given)\n"));
	CU_ASSERT_EQUAL(verify(buf, len, fpr, &entries), KMS_ERR_TRUNCATED);
	kms_transcript_abandon(NULL, "no-op");
}

static void
test_refused_text(void)
{
	static uint8_t buf[BUF_CAP];
	static const char *const bad_text[] = {
		"",         "line\nfeed", "tab\there",    "cr\r",        "del\x7f", "nel \xc2\x85",
		"bad \xff", "cut \xc3",   "over\xc0\xaf", "esc \x1b[2J",
	};
	static const char *const bad_step[] = {"",           "Init",  "init_token",
					       "init token", "step:", "\xc3\xa9"};
	struct kms_transcript *t = NULL;
	char path[512], big[KMS_TRANSCRIPT_MAX_ENTRY + 2], step[KMS_TRANSCRIPT_MAX_STEP + 2];
	char fpr[65];
	size_t i, before, len, entries;

	path_of(path, sizeof(path), "refused.txt");
	CU_ASSERT_FATAL(kms_transcript_create(&t, path, "c", "o", "v") == KMS_OK);
	before = slurp(path, buf);
	for (i = 0; i < sizeof(bad_text) / sizeof(bad_text[0]); i++) {
		CU_ASSERT_EQUAL(kms_transcript_add(t, "step", "%s", bad_text[i]),
				KMS_ERR_INVALID_ARG);
	}
	for (i = 0; i < sizeof(bad_step) / sizeof(bad_step[0]); i++) {
		CU_ASSERT_EQUAL(kms_transcript_add(t, bad_step[i], "text"), KMS_ERR_INVALID_ARG);
	}
	CU_ASSERT_EQUAL(kms_transcript_add(t, NULL, "text"), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_transcript_add(NULL, "step", "text"), KMS_ERR_INVALID_ARG);
	memset(step, 'a', sizeof(step));
	step[KMS_TRANSCRIPT_MAX_STEP + 1] = '\0';
	CU_ASSERT_EQUAL(kms_transcript_add(t, step, "text"), KMS_ERR_INVALID_ARG);
	memset(big, 'x', sizeof(big));
	big[KMS_TRANSCRIPT_MAX_ENTRY + 1] = '\0';
	CU_ASSERT_EQUAL(kms_transcript_add(t, "step", "%s", big), KMS_ERR_INVALID_ARG);
	/* nothing of those was written */
	CU_ASSERT_EQUAL(slurp(path, buf), before);

	/* the limits themselves are fine */
	step[KMS_TRANSCRIPT_MAX_STEP] = '\0';
	big[KMS_TRANSCRIPT_MAX_ENTRY] = '\0';
	CU_ASSERT_EQUAL(kms_transcript_add(t, step, "%s", big), KMS_OK);
	CU_ASSERT_EQUAL(kms_transcript_add(t, "a-b", "é – 日本 😀"), KMS_OK);
	CU_ASSERT_EQUAL(kms_transcript_finish(t, point_a, ossl_sign, key_a), KMS_OK);
	len = slurp(path, buf);
	CU_ASSERT_EQUAL(verify(buf, len, fpr, &entries), KMS_OK);
	CU_ASSERT_EQUAL(entries, 2);

	/* header values are checked as well; nothing is left behind */
	path_of(path, sizeof(path), "refused-hdr.txt");
	t = (struct kms_transcript *)&entries; /* must become NULL */
	CU_ASSERT_EQUAL(kms_transcript_create(&t, path, "c", "o\nhost: forged", "v"),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_EQUAL(kms_transcript_create(&t, path, "", "o", "v"), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_transcript_create(&t, path, "c", "o", NULL), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
}

static void
test_never_overwritten(void)
{
	static uint8_t buf[BUF_CAP];
	struct kms_transcript *t = NULL;
	char path[512], link_path[512];
	size_t len;
	int fd;

	path_of(path, sizeof(path), "exists.txt");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, "precious\n", 9), 9);
	close(fd);
	errno = 0;
	CU_ASSERT_EQUAL(kms_transcript_create(&t, path, "c", "o", "v"), KMS_ERR_IO);
	CU_ASSERT_EQUAL(errno, EEXIST);
	CU_ASSERT_PTR_NULL(t);
	len = slurp(path, buf);
	CU_ASSERT_TRUE(len == 9 && memcmp(buf, "precious\n", 9) == 0);

	/* a link, dangling or not, is not followed */
	path_of(link_path, sizeof(link_path), "link.txt");
	CU_ASSERT_EQUAL_FATAL(symlink(path, link_path), 0);
	CU_ASSERT_EQUAL(kms_transcript_create(&t, link_path, "c", "o", "v"), KMS_ERR_IO);
	len = slurp(path, buf);
	CU_ASSERT_TRUE(len == 9 && memcmp(buf, "precious\n", 9) == 0);
	path_of(link_path, sizeof(link_path), "dangling.txt");
	path_of(path, sizeof(path), "nowhere.txt");
	CU_ASSERT_EQUAL_FATAL(symlink(path, link_path), 0);
	CU_ASSERT_EQUAL(kms_transcript_create(&t, link_path, "c", "o", "v"), KMS_ERR_IO);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);

	/* a directory that is not there */
	path_of(path, sizeof(path), "no/such/dir.txt");
	CU_ASSERT_EQUAL(kms_transcript_create(&t, path, "c", "o", "v"), KMS_ERR_IO);
	CU_ASSERT_EQUAL(errno, ENOENT);
}

static void
test_other_key(void)
{
	static uint8_t buf[BUF_CAP], forged[BUF_CAP];
	struct kms_transcript *t = NULL;
	char path[512], fpr[65], fpr_b[65], ph[131], *p, *q;
	size_t len, entries;

	/* The token signs with B but the ceremony names A: refused before anything is signed. */
	path_of(path, sizeof(path), "otherkey.txt");
	CU_ASSERT_FATAL(kms_transcript_create(&t, path, "c", "o", "v") == KMS_OK);
	CU_ASSERT_FATAL(kms_transcript_add(t, "generate", "x") == KMS_OK);
	CU_ASSERT_EQUAL(kms_transcript_finish(t, point_a, ossl_sign, key_b), KMS_ERR_AUTH);
	len = slurp(path, buf);
	buf[len] = '\0';
	CU_ASSERT_PTR_NULL(strstr((char *)buf, "signature: "));
	CU_ASSERT_PTR_NOT_NULL(strstr((char *)buf, "\nended: not signed (finish failed: "));
	CU_ASSERT_EQUAL(verify(buf, len, fpr, &entries), KMS_ERR_TRUNCATED);

	/* A signer that fails: its code comes back, the run is ended unsigned. */
	path_of(path, sizeof(path), "signfail.txt");
	CU_ASSERT_FATAL(kms_transcript_create(&t, path, "c", "o", "v") == KMS_OK);
	CU_ASSERT_EQUAL(kms_transcript_finish(t, point_a, failing_sign, NULL), KMS_ERR_HSM);
	len = slurp(path, buf);
	CU_ASSERT_EQUAL(verify(buf, len, fpr, &entries), KMS_ERR_TRUNCATED);

	/* Bad arguments: t is freed all the same (the sanitizer build would see a leak). */
	path_of(path, sizeof(path), "nullpoint.txt");
	CU_ASSERT_FATAL(kms_transcript_create(&t, path, "c", "o", "v") == KMS_OK);
	CU_ASSERT_EQUAL(kms_transcript_finish(t, NULL, ossl_sign, key_a), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_transcript_finish(NULL, point_a, ossl_sign, key_a),
			KMS_ERR_INVALID_ARG);

	/* A whole transcript signed by B verifies, with B's fingerprint, not A's. */
	path_of(path, sizeof(path), "bykeyb.txt");
	CU_ASSERT_FATAL(kms_transcript_create(&t, path, "c", "o", "v") == KMS_OK);
	CU_ASSERT_FATAL(kms_transcript_add(t, "generate", "x") == KMS_OK);
	CU_ASSERT_EQUAL(kms_transcript_finish(t, point_b, ossl_sign, key_b), KMS_OK);
	len = slurp(path, buf);
	CU_ASSERT_EQUAL(verify(buf, len, fpr, &entries), KMS_OK);
	kms_transcript_fingerprint(point_b, fpr_b);
	CU_ASSERT_STRING_EQUAL(fpr, fpr_b);

	/* A's transcript with B's point and fingerprint put in signed-by: does not verify. */
	make_signed("forge.txt", forged, &len);
	forged[len] = '\0';
	p = strstr((char *)forged, "signed-by: ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	CU_ASSERT_FATAL(kms_hex_encode(ph, sizeof(ph), point_b, 65) == KMS_OK);
	memcpy(p + 11, ph, 130);
	q = p + 11 + 130 + 1;
	memcpy(q, fpr_b, 64);
	CU_ASSERT_EQUAL(verify(forged, len, fpr, &entries), KMS_ERR_AUTH);
}

/*
 * A write that fails half-way (the file size limit: EFBIG) is cut off again: the file still
 * ends with a complete line, the run can go on, and a header that cannot be written leaves no
 * file.
 */
static void
test_write_failure(void)
{
	static uint8_t buf[BUF_CAP];
	static char big[600];
	struct kms_transcript *t = NULL;
	struct rlimit old, lim;
	char path[512], fpr[65], err[160];
	size_t len, entries;
	int r;

	CU_ASSERT_FATAL(signal(SIGXFSZ, SIG_IGN) != SIG_ERR);
	CU_ASSERT_FATAL(getrlimit(RLIMIT_FSIZE, &old) == 0);
	path_of(path, sizeof(path), "efbig.txt");
	CU_ASSERT_FATAL(kms_transcript_create(&t, path, "c", "o", "v") == KMS_OK);
	CU_ASSERT_FATAL(kms_transcript_add(t, "one", "first") == KMS_OK);
	len = slurp(path, buf);
	lim = old;
	lim.rlim_cur = (rlim_t)(len + 50);
	CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	memset(big, 'x', sizeof(big) - 1);
	r = kms_transcript_add(t, "two", "%s", big);
	CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &old) == 0);
	CU_ASSERT_EQUAL(r, KMS_ERR_IO);
	CU_ASSERT_EQUAL(slurp(path, buf), len);
	CU_ASSERT_EQUAL(kms_transcript_verify(buf, len, fpr, &entries, err, sizeof(err)),
			KMS_ERR_TRUNCATED);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "did not finish"));
	/* the entry number was not used up */
	CU_ASSERT_EQUAL(kms_transcript_add(t, "two", "second"), KMS_OK);
	CU_ASSERT_EQUAL(kms_transcript_finish(t, point_a, ossl_sign, key_a), KMS_OK);
	len = slurp(path, buf);
	CU_ASSERT_EQUAL(verify(buf, len, fpr, &entries), KMS_OK);
	CU_ASSERT_EQUAL(entries, 2);

	path_of(path, sizeof(path), "efbig-hdr.txt");
	lim.rlim_cur = 10;
	CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &lim) == 0);
	r = kms_transcript_create(&t, path, "c", "o", "v");
	CU_ASSERT_FATAL(setrlimit(RLIMIT_FSIZE, &old) == 0);
	CU_ASSERT_EQUAL(r, KMS_ERR_IO);
	CU_ASSERT_PTR_NULL(t);
	CU_ASSERT_EQUAL(access(path, F_OK), -1);
	CU_ASSERT_FATAL(signal(SIGXFSZ, SIG_DFL) != SIG_ERR);
}

/* The fingerprint is `openssl dgst -sha256` of the point's 65 octets. */
static void
test_fingerprint_openssl(void)
{
	char path[512], cmd[700], line[256], fpr[65];
	uint8_t md[32];
	char want[65];
	FILE *f;
	int fd;

	kms_transcript_fingerprint(point_a, fpr);
	CU_ASSERT_EQUAL(strlen(fpr), 64);
	/* OpenSSL's library, on the point as OpenSSL gave it */
	CU_ASSERT_FATAL(EVP_Digest(point_a, 65, md, NULL, EVP_sha256(), NULL) == 1);
	CU_ASSERT_FATAL(kms_hex_encode(want, sizeof(want), md, sizeof(md)) == KMS_OK);
	CU_ASSERT_STRING_EQUAL(fpr, want);

	/* the openssl command, as an auditor would run it */
	path_of(path, sizeof(path), "point.bin");
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL(write(fd, point_a, 65), 65);
	close(fd);
	snprintf(cmd, sizeof(cmd), "openssl dgst -sha256 -r '%s'", path);
	f = popen(cmd, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	memset(line, 0, sizeof(line));
	CU_ASSERT_PTR_NOT_NULL(fgets(line, sizeof(line), f));
	CU_ASSERT_EQUAL(pclose(f), 0);
	CU_ASSERT_EQUAL(strncasecmp(line, fpr, 64), 0);
	CU_ASSERT_EQUAL(line[64], ' ');
}

/* Transcripts built by hand, signed correctly, with one fault each. */
static void
test_semantics(void)
{
	static const struct {
		const char *body;
		int want;
		size_t entries;
	} cases[] = {
		{HDR, KMS_OK, 0},
		{HDR "1 2024-02-28T10:00:00Z a: x\n2 2024-02-28T10:00:00Z b-c: y z\n", KMS_OK, 2},
		{HDR "1 2024-02-29T23:59:59Z a: leap year\n", KMS_OK, 1},
		{HDR "1 2024-02-28T10:00:00Z a: x\n3 2024-02-28T10:00:01Z a: gap\n", KMS_ERR_PARSE,
		 0},
		{HDR "2 2024-02-28T10:00:00Z a: starts at 2\n", KMS_ERR_PARSE, 0},
		{HDR "0 2024-02-28T10:00:00Z a: zero\n", KMS_ERR_PARSE, 0},
		{HDR "01 2024-02-28T10:00:00Z a: leading zero\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:01Z a: x\n2 2024-02-28T10:00:00Z a: back\n", KMS_ERR_PARSE,
		 0},
		{HDR "1 2024-02-28T09:59:59Z a: before start\n", KMS_ERR_PARSE, 0},
		{HDR "1 2023-02-29T10:00:00Z a: no such day\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-13-01T10:00:00Z a: no such month\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T24:00:00Z a: no such hour\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:60Z a: leap second\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28 10:00:00Z a: space\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:00Z Step: upper case\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:00Z a:\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:00Z a: \n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:00Z a:x\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:00Z : no step\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:00Z aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa: 33\n",
		 KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:00Z a: crlf\r\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:00Z a: tab\there\n", KMS_ERR_PARSE, 0},
		{HDR "1 2024-02-28T10:00:00Z a: bad \xff utf-8\n", KMS_ERR_PARSE, 0},
		{HDR "\n", KMS_ERR_PARSE, 0},
		{HDR "ended: not signed (x)\n", KMS_ERR_PARSE,
		 0}, /* then signed-by: a line after */
		{"KMS CEREMONY TRANSCRIPT 2\nceremony: c1\noperator: op\nversion: v1\nhost: h\n"
		 "started: 2024-02-28T10:00:00Z\n",
		 KMS_ERR_PARSE, 0},
		{"KMS CEREMONY TRANSCRIPT 1\noperator: op\nceremony: c1\nversion: v1\nhost: h\n"
		 "started: 2024-02-28T10:00:00Z\n",
		 KMS_ERR_PARSE, 0},
		{"KMS CEREMONY TRANSCRIPT 1\nceremony: \noperator: op\nversion: v1\nhost: h\n"
		 "started: 2024-02-28T10:00:00Z\n",
		 KMS_ERR_PARSE, 0},
		{"KMS CEREMONY TRANSCRIPT 1\nceremony: c1\noperator: op\nversion: v1\n"
		 "started: 2024-02-28T10:00:00Z\n",
		 KMS_ERR_PARSE, 0},
		{"KMS CEREMONY TRANSCRIPT 1\nceremony: c1\noperator: op\nversion: v1\nhost: h\n"
		 "started: 2024-02-28T10:00:00Z extra\n",
		 KMS_ERR_PARSE, 0},
	};
	size_t i, entries;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		entries = 99;
		r = verify_body(cases[i].body, &entries);
		if (r != cases[i].want) {
			fprintf(stderr, "case %zu: %d, expected %d\n", i, r, cases[i].want);
		}
		CU_ASSERT_EQUAL(r, cases[i].want);
		CU_ASSERT_EQUAL(entries, cases[i].want == KMS_OK ? cases[i].entries : 0);
	}
}

/* The end lines: the fingerprint must be the point's, the point on the curve, hex upper case. */
static void
test_end_lines(void)
{
	static uint8_t buf[BUF_CAP], work[BUF_CAP];
	uint8_t bad_point[65];
	char fpr[65], *p;
	size_t len, entries, i;

	len = sign_body(HDR, key_a, point_a, buf, sizeof(buf));
	CU_ASSERT_EQUAL(verify(buf, len, fpr, &entries), KMS_OK);
	/* lower-case hex in the signature is the same signature, but not the canonical line */
	memcpy(work, buf, len);
	work[len] = '\0';
	p = strstr((char *)work, "signature: ");
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	for (i = 11; i < 11 + 128; i++) {
		if (p[i] >= 'A' && p[i] <= 'F') {
			p[i] = (char)(p[i] - 'A' + 'a');
			break;
		}
	}
	CU_ASSERT_FATAL(i < 11 + 128);
	CU_ASSERT_EQUAL(verify(work, len, fpr, &entries), KMS_ERR_PARSE);

	/* two signed-by lines: the body up to the signature line, signed again */
	{
		static char body[BUF_CAP];
		size_t body_len;

		memcpy(work, buf, len);
		work[len] = '\0';
		p = strstr((char *)work, "signature: ");
		CU_ASSERT_PTR_NOT_NULL_FATAL(p);
		body_len = (size_t)(p - (char *)work);
		memcpy(body, work, body_len);
		body[body_len] = '\0';
		len = sign_body(body, key_a, point_a, work, sizeof(work));
		CU_ASSERT_EQUAL(verify(work, len, fpr, &entries), KMS_ERR_PARSE);
	}

	/* a correct signature over a signed-by line whose fingerprint is not the point's */
	{
		char other[65];

		kms_transcript_fingerprint(point_b, other);
		len = sign_body_fpr(HDR, key_a, point_a, other, work, sizeof(work));
		CU_ASSERT_EQUAL(verify(work, len, fpr, &entries), KMS_ERR_PARSE);
		/* and one lower-case fingerprint digit */
		kms_transcript_fingerprint(point_a, other);
		for (i = 0; i < 64 && !(other[i] >= 'A' && other[i] <= 'F'); i++) {
		}
		CU_ASSERT_FATAL(i < 64);
		other[i] = (char)(other[i] - 'A' + 'a');
		len = sign_body_fpr(HDR, key_a, point_a, other, work, sizeof(work));
		CU_ASSERT_EQUAL(verify(work, len, fpr, &entries), KMS_ERR_PARSE);
	}

	/* 04 || zeros is not on the curve, but its fingerprint is right */
	memset(bad_point, 0, sizeof(bad_point));
	bad_point[0] = 0x04;
	len = sign_body(HDR, key_a, bad_point, work, sizeof(work));
	CU_ASSERT_EQUAL(verify(work, len, fpr, &entries), KMS_ERR_PARSE);
	/* a compressed-point prefix */
	memcpy(bad_point, point_a, 65);
	bad_point[0] = 0x02;
	len = sign_body(HDR, key_a, bad_point, work, sizeof(work));
	CU_ASSERT_EQUAL(verify(work, len, fpr, &entries), KMS_ERR_PARSE);
}

/* The entry text limit holds in the file too, whatever room the line's other fields leave. */
static void
test_entry_text_limit(void)
{
	static char body[BUF_CAP];
	size_t entries, off;
	int n;

	n = snprintf(body, sizeof(body), "%s1 2024-02-28T10:00:00Z a: ", HDR);
	CU_ASSERT_FATAL(n > 0);
	off = (size_t)n;
	memset(body + off, 'x', KMS_TRANSCRIPT_MAX_ENTRY);
	memcpy(body + off + KMS_TRANSCRIPT_MAX_ENTRY, "\n", 2);
	CU_ASSERT_EQUAL(verify_body(body, &entries), KMS_OK);
	CU_ASSERT_EQUAL(entries, 1);
	memcpy(body + off + KMS_TRANSCRIPT_MAX_ENTRY, "y\n", 3);
	CU_ASSERT_EQUAL(verify_body(body, &entries), KMS_ERR_PARSE);
}

static void
test_limits_and_args(void)
{
	uint8_t *big = calloc(1, KMS_TRANSCRIPT_MAX_FILE + 1);
	char fpr[65], err[160], small[8];
	size_t entries;

	CU_ASSERT_PTR_NOT_NULL_FATAL(big);
	CU_ASSERT_EQUAL(kms_transcript_verify(big, KMS_TRANSCRIPT_MAX_FILE + 1, fpr, &entries, err,
					      sizeof(err)),
			KMS_ERR_TOO_LARGE);
	/* at the cap, the size is fine and the content is judged */
	CU_ASSERT_EQUAL(kms_transcript_verify(big, KMS_TRANSCRIPT_MAX_FILE, fpr, &entries, err,
					      sizeof(err)),
			KMS_ERR_PARSE);
	free(big);
	CU_ASSERT_EQUAL(kms_transcript_verify(NULL, 0, fpr, &entries, err, sizeof(err)),
			KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(kms_transcript_verify(NULL, 1, fpr, &entries, err, sizeof(err)),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_transcript_verify((const uint8_t *)"x", 1, NULL, &entries, NULL, 0),
			KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_transcript_verify((const uint8_t *)"x", 1, fpr, NULL, NULL, 0),
			KMS_ERR_INVALID_ARG);
	/* no err buffer, or a small one: the verdict is the same, the reason cut */
	CU_ASSERT_EQUAL(kms_transcript_verify((const uint8_t *)"KMS\n", 4, fpr, &entries, NULL, 0),
			KMS_ERR_PARSE);
	memset(small, 'z', sizeof(small));
	CU_ASSERT_EQUAL(kms_transcript_verify((const uint8_t *)"KMS\n", 4, fpr, &entries, small,
					      sizeof(small)),
			KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(small[sizeof(small) - 1], '\0');
	/* the reason names the line and never quotes it */
	CU_ASSERT_EQUAL(
		kms_transcript_verify((const uint8_t *)"KMS CEREMONY TRANSCRIPT 1\nSECRET\n", 33,
				      fpr, &entries, err, sizeof(err)),
		KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(strncmp(err, "line 2: ", 8), 0);
	CU_ASSERT_PTR_NULL(strstr(err, "SECRET"));
}

static CU_TestInfo tests[] = {
	{"create, add, finish, verify", test_roundtrip},
	{"every octet changed", test_every_byte_changed},
	{"truncation and trailing octets", test_truncation_and_trailing},
	{"abandoned and unfinished runs", test_abandoned_and_unfinished},
	{"control characters and bad steps refused", test_refused_text},
	{"an existing file is never overwritten", test_never_overwritten},
	{"another key", test_other_key},
	{"a failed write is cut off", test_write_failure},
	{"fingerprint = openssl dgst -sha256", test_fingerprint_openssl},
	{"semantics of hand-made transcripts", test_semantics},
	{"signed-by and signature lines", test_end_lines},
	{"entry text limit", test_entry_text_limit},
	{"limits and arguments", test_limits_and_args},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"transcript", suite_init, suite_clean, NULL, NULL, tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
