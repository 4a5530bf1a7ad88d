/* SPDX-License-Identifier: Apache-2.0 */
/*
 * TrK/InK rotation end to end (label integration): `kms-admin roster client rotate` has a
 * kms-hsmd of its own make bob's new keys while kmsd runs; kmsd hands them to bob, wrapped under
 * his current TrK, in init and keyprov (NewTransportKey, NewIntegrityKey with CarriedKeyName),
 * and goes on serving him under the old keys until a request signed with the new InK proves he
 * has them; from that request on he is served under the new keys. Signed requests are made by
 * xmlsec1 (an independent XML signature implementation) and by kms-client; a signature by a
 * wrong key is refused (401). cancel-rotation and finish-rotation, the audit trail. The old
 * keys are retired: out of the store, destroyed in the token by the kms-hsmd that takes the proof,
 * or after an operator's finish by the next kms-hsmd that starts.
 */
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "proto/store.h"
#include "tests/integration/itest.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#define XMLSEC1 "/usr/bin/xmlsec1"

static char store_path[400], hsmd_conf[400];
static char resp[RESP_CAP];
static char kms_uri[300];
static char new_trk_id[300], new_ink_id[300];
static uint8_t bob_trk[32], bob_ink[32], new_trk[32], new_ink[32];
static char bob_trk_id[300], bob_ink_id[300]; /* bob's enrolled labels (trk.id, ink.id) */

/* The client's file (clients/<name>/file) of 64 hex digits into key: 0, or -1. */
static int
read_key(const char *name, const char *file, uint8_t key[32])
{
	char path[400];

	it_client_path(path, sizeof(path), name, file);
	return it_read_hex(path, key, 32) == 32 ? 0 : -1;
}

/* The client's file (clients/<name>/file) of one line, an id, into out: 0, or -1. */
static int
read_id(const char *name, const char *file, char *out, size_t cap)
{
	char path[400];

	it_client_path(path, sizeof(path), name, file);
	return it_read_line(path, out, cap) > 0 ? 0 : -1;
}

static int
suite_init(void)
{
	char *body = NULL;
	size_t blen = 0;

	if (it_make_domain("rotation-it", NULL) != 0) {
		return 1;
	}
	snprintf(store_path, sizeof(store_path), "%s/kms.db", it_dev);
	snprintf(hsmd_conf, sizeof(hsmd_conf), "%s/kms-hsmd.conf", it_dev);
	if (read_key("bob", "trk.hex", bob_trk) != 0 || read_key("bob", "ink.hex", bob_ink) != 0 ||
	    read_id("bob", "trk.id", bob_trk_id, sizeof(bob_trk_id)) != 0 ||
	    read_id("bob", "ink.id", bob_ink_id, sizeof(bob_ink_id)) != 0) {
		fprintf(stderr, "cannot read bob's keys\n");
		return 1;
	}
	if (it_start_domain_kmsd(NULL) != 0 ||
	    it_request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp), &body,
		       &blen) != 200 ||
	    it_element_text(body, "KmsUri", kms_uri, sizeof(kms_uri)) != 0) {
		return 1;
	}
	return 0;
}

/* kms-admin --store <the store> roster args... (NULL-terminated, at most 6): its exit status. */
static int
admin(char *out, size_t cap, const char *const args[])
{
	const char *argv[12] = {KMS_ADMIN_BIN, "--store", store_path, "roster"};
	size_t n = 4, i;

	for (i = 0; args[i] != NULL && i < 7; i++) {
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	return it_run(argv, out, cap);
}

/* RFC 5649 unwrap of in (base64) under kek: the length (32 for a TrK or InK), or 0. */
static size_t
unwrap_b64(const uint8_t kek[32], const char *b64, uint8_t *out, size_t cap)
{
	uint8_t in[600], tmp[600];
	size_t b64_len = strlen(b64), pad = 0;
	int n, len = 0, fin = 0;
	EVP_CIPHER_CTX *c;

	if (b64_len == 0 || b64_len % 4 != 0 || b64_len / 4 * 3 > sizeof(in)) {
		return 0;
	}
	pad = (size_t)(b64[b64_len - 1] == '=') + (size_t)(b64_len > 1 && b64[b64_len - 2] == '=');
	if ((n = EVP_DecodeBlock(in, (const unsigned char *)b64, (int)b64_len)) < 0) {
		return 0;
	}
	n -= (int)pad;
	if ((c = EVP_CIPHER_CTX_new()) == NULL) {
		return 0;
	}
	EVP_CIPHER_CTX_set_flags(c, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
	if (EVP_DecryptInit_ex(c, EVP_aes_256_wrap_pad(), NULL, kek, NULL) != 1 ||
	    EVP_DecryptUpdate(c, tmp, &len, in, n) != 1 ||
	    EVP_DecryptFinal_ex(c, tmp + len, &fin) != 1 || (size_t)(len + fin) > cap) {
		EVP_CIPHER_CTX_free(c);
		return 0;
	}
	EVP_CIPHER_CTX_free(c);
	memcpy(out, tmp, (size_t)(len + fin));
	return (size_t)(len + fin);
}

/*
 * The EncryptedKey of the element el (NewTransportKey, NewIntegrityKey) in xml: its KeyName and
 * CarriedKeyName into key_name and carried, its value unwrapped under kek into out: 0, or -1.
 */
static int
new_key(const char *xml, const char *el, const uint8_t kek[32], char *key_name, char *carried,
	size_t cap, uint8_t out[32])
{
	char open[64], b64[800];
	const char *p;
	uint8_t buf[64];

	snprintf(open, sizeof(open), "<%s ", el);
	if ((p = strstr(xml, open)) == NULL ||
	    it_element_text(p, "ds:KeyName", key_name, cap) != 0 ||
	    it_element_text(p, "xenc:CarriedKeyName", carried, cap) != 0 ||
	    it_element_text(p, "xenc:CipherValue", b64, sizeof(b64)) != 0 ||
	    unwrap_b64(kek, b64, buf, sizeof(buf)) != 32) {
		return -1;
	}
	memcpy(out, buf, 32);
	return 0;
}

/* A KmsRequest of bob for path, signed by xmlsec1 with key under the name key_name, into out. */
static int
xmlsec_signed(const char *path, const uint8_t key[32], const char *key_name, char *out, size_t cap)
{
	char tmpl[400], keyf[400], signedf[400], msg[8192];
	const char *argv[] = {XMLSEC1,        "--sign",
			      "--hmackey",    keyf,
			      "--id-attr:Id", "urn:3gpp:ns:mcsecKMSInterface:1.0:KmsRequest",
			      "--output",     signedf,
			      tmpl,           NULL};
	FILE *f;
	size_t len;
	int fd;

	snprintf(tmpl, sizeof(tmpl), "%s/req-tmpl.xml", it_tmp);
	snprintf(keyf, sizeof(keyf), "%s/req-key.bin", it_tmp);
	snprintf(signedf, sizeof(signedf), "%s/req-signed.xml", it_tmp);
	(void)unlink(signedf);
	if ((f = fopen(tmpl, "w")) == NULL) {
		return -1;
	}
	fprintf(f,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<SignedKmsRequest xmlns=\"urn:3gpp:ns:mcsecKMSInterface:1.0\" "
		"xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">"
		"<KmsRequest Id=\"r1\" Version=\"1.1.0\"><UserUri>%s</UserUri><KmsUri>%s</KmsUri>"
		"<Time>2026-11-29T05:00:00Z</Time><ClientReqUrl>https://127.0.0.1%s</ClientReqUrl>"
		"</KmsRequest>"
		"<ds:Signature><ds:SignedInfo>"
		"<ds:CanonicalizationMethod "
		"Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>"
		"<ds:SignatureMethod "
		"Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#hmac-sha256\"/>"
		"<ds:Reference URI=\"#r1\">"
		"<ds:DigestMethod Algorithm=\"http://www.w3.org/2001/04/xmlenc#sha256\"/>"
		"<ds:DigestValue></ds:DigestValue></ds:Reference></ds:SignedInfo>"
		"<ds:SignatureValue></ds:SignatureValue>"
		"<ds:KeyInfo><ds:KeyName>%s</ds:KeyName></ds:KeyInfo></ds:Signature>"
		"</SignedKmsRequest>\n",
		BOB_URI, kms_uri, path, key_name);
	if (fclose(f) != 0) {
		return -1;
	}
	if ((fd = open(keyf, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0) {
		return -1;
	}
	len = (size_t)write(fd, key, 32);
	(void)close(fd);
	if (len != 32) {
		return -1;
	}
	if (it_run(argv, msg, sizeof(msg)) != 0) {
		fprintf(stderr, "xmlsec1 --sign: %s\n", msg);
		return -1;
	}
	return it_read_line(signedf, out, cap) > 0 ? 0 : -1; /* its final newline goes */
}

/* bob's keyprov with body (NULL: none): the status; body_out and blen the response body. */
static int
bob_keyprov(const char *body, char **body_out, size_t *blen)
{
	static const char path[] = ROOT "/keyprov/" BOB_URI;

	return it_request("bob", "POST", path, NULL, body != NULL ? body : "",
			  body != NULL ? strlen(body) : 0, resp, sizeof(resp), body_out, blen);
}

/* The labels "pending: new TrK X, new InK Y" that `client rotate` printed on stdout (kms-hsmd's
 * log line on stderr quotes them). */
static int
rotated_labels(const char *out)
{
	const char *t = strstr(out, "pending: new TrK tk."), *i;

	size_t tl, il;

	if (t == NULL || (i = strstr(t, ", new InK ")) == NULL) {
		return -1;
	}
	t += 17;
	tl = (size_t)(i - t);
	i += 10;
	il = strcspn(i, "\n");
	if (tl == 0 || tl >= sizeof(new_trk_id) || il == 0 || il >= sizeof(new_ink_id)) {
		return -1;
	}
	memcpy(new_trk_id, t, tl);
	new_trk_id[tl] = '\0';
	memcpy(new_ink_id, i, il);
	new_ink_id[il] = '\0';
	return 0;
}

/*
 * Whether `kms-admin roster client retired` lists label (listed 1) or not (0), and whether
 * kmsd's log (its kms-hsmd's lines) says the key was destroyed in the token (destroyed).
 */
static void
check_retired(const char *label, int listed, int destroyed)
{
	static char out[16384], log[262144];
	const char *retired[] = {"client", "retired", "--json", NULL};
	char needle[400];
	size_t n = 0;
	int fd;

	CU_ASSERT_EQUAL_FATAL(admin(out, sizeof(out), retired), 0);
	snprintf(needle, sizeof(needle), "\"label\":\"%s\"", label);
	CU_ASSERT_EQUAL(strstr(out, needle) != NULL, listed);
	if ((fd = open(it_log, O_RDONLY | O_CLOEXEC)) >= 0) {
		n = kms_test_read_fd(fd, log, sizeof(log) - 1);
		close(fd);
	}
	log[n] = '\0';
	snprintf(needle, sizeof(needle), "destroyed the retired client key '%s' in the token",
		 label);
	CU_ASSERT_EQUAL(strstr(log, needle) != NULL, destroyed);
}

static void
test_rotation(void)
{
	static char out[16384], signed_req[16384];
	const char *rotate[] = {"client", "rotate", BOB_URI, "--hsmd-conf", hsmd_conf, NULL};
	const char *list[] = {"client", "rotations", "--json", NULL};
	char key_name[300], carried[300], path[300];
	uint8_t wrong[32], ink_check[32];
	char *body = NULL;
	size_t blen = 0;

	snprintf(path, sizeof(path), ROOT "/keyprov/%s", BOB_URI);
	/* while kmsd runs: the rotation is made by a kms-hsmd of kms-admin's own */
	CU_ASSERT_EQUAL_FATAL(admin(out, sizeof(out), rotate), 0);
	CU_ASSERT_EQUAL_FATAL(rotated_labels(out), 0);
	CU_ASSERT(strncmp(new_trk_id, "tk.", 3) == 0 && strncmp(new_ink_id, "ik.", 3) == 0);
	CU_ASSERT_EQUAL(admin(out, sizeof(out), list), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, new_trk_id));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, BOB_URI));
	/* a second one while it is pending: refused */
	CU_ASSERT_EQUAL(admin(out, sizeof(out), rotate), 1);

	/* init: KmsInitTkIkType with both new keys, under the current TrK, naming the new ones */
	CU_ASSERT_EQUAL_FATAL(it_request("bob", "POST", ROOT "/init", NULL, NULL, 0, resp,
					 sizeof(resp), &body, &blen),
			      200);
	CU_ASSERT(it_schema_valid(body, blen));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "KmsInitTkIkType"));
	CU_ASSERT_EQUAL_FATAL(
		new_key(body, "NewTransportKey", bob_trk, key_name, carried, 300, new_trk), 0);
	CU_ASSERT_STRING_EQUAL(key_name, bob_trk_id);
	CU_ASSERT_STRING_EQUAL(carried, new_trk_id);
	CU_ASSERT_EQUAL_FATAL(
		new_key(body, "NewIntegrityKey", bob_trk, key_name, carried, 300, new_ink), 0);
	CU_ASSERT_STRING_EQUAL(carried, new_ink_id);
	/* alice has no rotation: a plain KmsInit */
	CU_ASSERT_EQUAL(it_request("alice", "POST", ROOT "/init", NULL, NULL, 0, resp, sizeof(resp),
				   &body, &blen),
			200);
	CU_ASSERT_PTR_NULL(strstr(body, "NewTransportKey"));

	/* keyprov: key sets still under the old TrK, and the new keys again */
	CU_ASSERT_EQUAL_FATAL(bob_keyprov(NULL, &body, &blen), 200);
	CU_ASSERT(it_schema_valid(body, blen));
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "KmsKeyProvTkIkType"));
	CU_ASSERT_EQUAL(it_element_text(strstr(body, "<UserDecryptKey"), "ds:KeyName", key_name,
					sizeof(key_name)),
			0);
	CU_ASSERT_STRING_EQUAL(key_name, bob_trk_id);
	CU_ASSERT_EQUAL(
		new_key(body, "NewIntegrityKey", bob_trk, key_name, carried, 300, ink_check), 0);
	CU_ASSERT(memcmp(ink_check, new_ink, 32) == 0);

	/* signed by a key that is not the new InK, under its name: 401, still pending */
	CU_ASSERT_EQUAL(RAND_bytes(wrong, sizeof(wrong)), 1);
	CU_ASSERT_EQUAL_FATAL(
		xmlsec_signed(path, wrong, new_ink_id, signed_req, sizeof(signed_req)), 0);
	CU_ASSERT_EQUAL(bob_keyprov(signed_req, &body, &blen), 401);
	CU_ASSERT_PTR_NULL(strstr(body, "EncryptedKey"));
	/* signed by the current InK: good, served under the old keys, still pending */
	CU_ASSERT_EQUAL_FATAL(
		xmlsec_signed(path, bob_ink, bob_ink_id, signed_req, sizeof(signed_req)), 0);
	CU_ASSERT_EQUAL(bob_keyprov(signed_req, &body, &blen), 200);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "NewTransportKey"));
	CU_ASSERT_EQUAL(admin(out, sizeof(out), list), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, new_trk_id));

	/* signed by the new InK (xmlsec1): the proof; this very answer comes under the new keys */
	CU_ASSERT_EQUAL_FATAL(
		xmlsec_signed(path, new_ink, new_ink_id, signed_req, sizeof(signed_req)), 0);
	CU_ASSERT_EQUAL_FATAL(bob_keyprov(signed_req, &body, &blen), 200);
	CU_ASSERT(it_schema_valid(body, blen));
	CU_ASSERT_PTR_NULL(strstr(body, "NewTransportKey"));
	CU_ASSERT_EQUAL(it_element_text(strstr(body, "<UserDecryptKey"), "ds:KeyName", key_name,
					sizeof(key_name)),
			0);
	CU_ASSERT_STRING_EQUAL(key_name, new_trk_id);
	CU_ASSERT_EQUAL(it_element_text(strstr(body, "<ds:Signature"), "ds:KeyName", key_name,
					sizeof(key_name)),
			0);
	CU_ASSERT_STRING_EQUAL(key_name, new_ink_id);
	CU_ASSERT_EQUAL(admin(out, sizeof(out), list), 0);
	CU_ASSERT_PTR_NULL(strstr(out, BOB_URI));
	/* the old InK is not bob's any more */
	CU_ASSERT_EQUAL_FATAL(
		xmlsec_signed(path, bob_ink, bob_ink_id, signed_req, sizeof(signed_req)), 0);
	CU_ASSERT_EQUAL(bob_keyprov(signed_req, &body, &blen), 401);
	/* his old keys are retired, and the kms-hsmd that took the proof destroyed them */
	check_retired(bob_trk_id, 1, 1);
	check_retired(bob_ink_id, 1, 1);
	check_retired(new_trk_id, 0, 0);
}

/* kms-client, as bob's client would: receive the rotation, prove it, use the new keys. */
static void
test_kms_client(void)
{
	static char out[32768];
	const char *rotate[] = {"client", "rotate", ALICE_URI, "--hsmd-conf", hsmd_conf, NULL};
	char dir[400], ntrk[420], nink[420], idf[420], id[300], initf[420];
	const char *recv_args[] = {"--out", dir, "keyprov", NULL};
	/* the saved init answer (signed with the old InK): keyprov does not call init again */
	const char *prove_args[] = {"--kms-cert", initf, "--trk",  ntrk,      "--ink",   nink,
				    "--ink-id",   id,    "--sign", "keyprov", ALICE_URI, NULL};

	CU_ASSERT_EQUAL_FATAL(admin(out, sizeof(out), rotate), 0);
	snprintf(dir, sizeof(dir), "%s/alice-out", it_tmp);
	CU_ASSERT_EQUAL_FATAL(it_kms_client("alice", recv_args, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "received"));
	snprintf(ntrk, sizeof(ntrk), "%s/new-trk.hex", dir);
	snprintf(nink, sizeof(nink), "%s/new-ink.hex", dir);
	snprintf(idf, sizeof(idf), "%s/new-ink.id", dir);
	snprintf(initf, sizeof(initf), "%s/init.xml", dir);
	CU_ASSERT_FATAL(it_read_line(idf, id, sizeof(id)) > 0);
	CU_ASSERT(strncmp(id, "ik.", 3) == 0);
	/* the new keys, proved by a signed request: everything checks under them */
	CU_ASSERT_EQUAL(it_kms_client("alice", prove_args, out, sizeof(out)), 0);
	if (strstr(out, "done") == NULL) {
		fprintf(stderr, "kms-client: %s\n", out);
	}
	{
		const char *list[] = {"client", "rotations", NULL};
		CU_ASSERT_EQUAL(admin(out, sizeof(out), list), 0);
		CU_ASSERT_PTR_NULL(strstr(out, ALICE_URI));
	}
}

/* cancel-rotation drops a pending rotation; finish and cancel with none pending are refused. */
static void
test_cancel_finish(void)
{
	static char out[16384];
	const char *rotate[] = {"client", "rotate", MCS_URI, "--hsmd-conf", hsmd_conf, NULL};
	const char *cancel[] = {"client", "cancel-rotation", MCS_URI, NULL};
	const char *finish[] = {"client", "finish-rotation", MCS_URI, NULL};
	const char *bad[] = {"client", "rotate", MCS_URI, NULL};
	char old_trk[300];
	char *body = NULL;
	size_t blen = 0;

	char longprog[PATH_MAX + 16];
	const char *relprog[] = {"client",  "rotate", MCS_URI,    "--hsmd-conf",
				 hsmd_conf, "--hsmd", "kms-hsmd", NULL};
	const char *toolong[] = {"client",  "rotate", MCS_URI,  "--hsmd-conf",
				 hsmd_conf, "--hsmd", longprog, NULL};

	CU_ASSERT_EQUAL(admin(out, sizeof(out), bad), 2); /* neither --hsmd-conf nor a socket */
	/* --hsmd: an absolute path that fits, never cut short to another program */
	memset(longprog, 'x', sizeof(longprog) - 1);
	longprog[0] = '/';
	longprog[sizeof(longprog) - 1] = '\0';
	CU_ASSERT_EQUAL(admin(out, sizeof(out), relprog), 2);
	CU_ASSERT_EQUAL(admin(out, sizeof(out), toolong), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "shorter than PATH_MAX"));
	CU_ASSERT_EQUAL_FATAL(admin(out, sizeof(out), rotate), 0);
	CU_ASSERT_EQUAL(it_request("mcptt-server", "POST", ROOT "/init", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			200);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, "NewTransportKey"));
	CU_ASSERT_EQUAL(admin(out, sizeof(out), cancel), 0);
	CU_ASSERT_EQUAL(it_request("mcptt-server", "POST", ROOT "/init", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			200);
	CU_ASSERT_PTR_NULL(strstr(body, "NewTransportKey"));
	CU_ASSERT_EQUAL(admin(out, sizeof(out), cancel), 1);
	CU_ASSERT_EQUAL(admin(out, sizeof(out), finish), 1);
	/*
	 * A rotation made under a TrK the client no longer has (re-enrolled meanwhile, here by
	 * writing its row with another TrK label): not sent, and it cannot be finished; a cancel
	 * clears it.
	 */
	CU_ASSERT_EQUAL_FATAL(admin(out, sizeof(out), rotate), 0);
	{
		struct kms_store *st = NULL;
		struct kms_store_client c, saved;

		CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, store_path, KMS_STORE_RW), KMS_OK);
		CU_ASSERT_EQUAL_FATAL(kms_store_get_client(st, MCS_URI, &c), KMS_OK);
		saved = c;
		snprintf(c.trk_label, sizeof(c.trk_label), "%.*s", (int)sizeof(c.trk_label) - 1,
			 bob_trk_id);
		CU_ASSERT_EQUAL(kms_store_put_client(st, &c), KMS_OK);
		CU_ASSERT_EQUAL(it_request("mcptt-server", "POST", ROOT "/init", NULL, NULL, 0,
					   resp, sizeof(resp), &body, &blen),
				200);
		CU_ASSERT_PTR_NULL(strstr(body, "NewTransportKey"));
		CU_ASSERT_EQUAL(admin(out, sizeof(out), finish), 1);
		CU_ASSERT_EQUAL(kms_store_put_client(st, &saved), KMS_OK);
		kms_store_close(st);
	}
	CU_ASSERT_EQUAL(admin(out, sizeof(out), cancel), 0);
	/* an operator's finish: the client is served under the new keys at once */
	CU_ASSERT_EQUAL_FATAL(read_id("mcptt-server", "trk.id", old_trk, sizeof(old_trk)), 0);
	CU_ASSERT_EQUAL_FATAL(admin(out, sizeof(out), rotate), 0);
	CU_ASSERT_EQUAL_FATAL(rotated_labels(out), 0);
	CU_ASSERT_EQUAL(admin(out, sizeof(out), finish), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "its old TrK and InK are retired"));
	CU_ASSERT_EQUAL(it_request("mcptt-server", "POST", ROOT "/keyprov", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			200);
	CU_ASSERT_PTR_NOT_NULL(strstr(body, new_trk_id));
	/* its old keys are retired; the token keeps them until a kms-hsmd starts */
	check_retired(old_trk, 1, 0);
	CU_ASSERT_EQUAL_FATAL(it_stop_kmsd(), 0);
	CU_ASSERT_EQUAL_FATAL(it_start_domain_kmsd(NULL), 0);
	CU_ASSERT_EQUAL(it_request("mcptt-server", "POST", ROOT "/keyprov", NULL, NULL, 0, resp,
				   sizeof(resp), &body, &blen),
			200);
	check_retired(old_trk, 1, 1);
}

/*
 * kms-admin --config kmsd.conf: the store, and kms-hsmd for a rotation, as kmsd has them; a
 * missing or bad configuration, or --store beside it, is refused.
 */
static void
test_admin_config(void)
{
	static char out[16384];
	char conf[400], bad[400];
	const char *rotations[] = {KMS_ADMIN_BIN, "--config",  conf,     "roster",
				   "client",      "rotations", "--json", NULL};
	const char *rotate[] = {KMS_ADMIN_BIN, "roster",   "client", "rotate",
				ALICE_URI,     "--config", conf,     NULL};
	const char *cancel[] = {KMS_ADMIN_BIN, "--config",        conf,      "roster",
				"client",      "cancel-rotation", ALICE_URI, NULL};
	const char *verify[] = {KMS_ADMIN_BIN, "--config", conf, "audit", "verify", NULL};
	const char *both[] = {KMS_ADMIN_BIN, "--config", conf,     "--store",
			      store_path,    "audit",    "verify", NULL};
	const char *missing[] = {KMS_ADMIN_BIN, "--config", "/nonexistent/kmsd.conf",
				 "audit",       "verify",   NULL};
	const char *broken[] = {KMS_ADMIN_BIN, "--config", bad, "audit", "verify", NULL};

	snprintf(conf, sizeof(conf), "%s/kmsd.conf", it_dev);
	snprintf(bad, sizeof(bad), "%s/bad-kmsd.conf", it_tmp);
	CU_ASSERT_EQUAL(it_run(rotations, out, sizeof(out)), 0);
	/* kms-hsmd started from kmsd.conf's hsmd_conf and hsmd */
	CU_ASSERT_EQUAL_FATAL(it_run(rotate, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "pending"));
	CU_ASSERT_EQUAL(it_run(rotations, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, ALICE_URI));
	CU_ASSERT_EQUAL(it_run(cancel, out, sizeof(out)), 0);
	CU_ASSERT_EQUAL(it_run(verify, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "records verified"));
	CU_ASSERT_EQUAL(it_run(both, out, sizeof(out)), 2);
	CU_ASSERT_EQUAL(it_run(missing, out, sizeof(out)), 3);
	/* checked as kmsd checks it: an unknown key is named, with its line */
	CU_ASSERT_EQUAL_FATAL(it_conf_variant(conf, bad, "stroe = /x\n"), 0);
	CU_ASSERT_EQUAL(it_run(broken, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "unknown key 'stroe'"));
}

/* The audit trail says what happened, and its chain verifies. */
static void
test_audit(void)
{
	static char out[262144];
	const char *show[] = {KMS_ADMIN_BIN, "--store",  store_path, "audit",
			      "show",        "--client", BOB_URI,    NULL};
	const char *verify[] = {KMS_ADMIN_BIN, "--store", store_path, "audit", "verify", NULL};

	CU_ASSERT_EQUAL(it_run(show, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "rotation pending: sent"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "rotation finished"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "did not verify"));
	CU_ASSERT_EQUAL(it_run(verify, out, sizeof(out)), 0);
}

static CU_TestInfo rotation_tests[] = {
	{"rotate, deliver, prove with the new InK (xmlsec1)", test_rotation},
	{"kms-client receives and proves a rotation", test_kms_client},
	{"cancel-rotation and finish-rotation", test_cancel_finish},
	{"kms-admin --config kmsd.conf", test_admin_config},
	{"the audit trail", test_audit},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"rotation", suite_init, it_suite_cleanup, NULL, NULL, rotation_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return it_main(suites);
}
