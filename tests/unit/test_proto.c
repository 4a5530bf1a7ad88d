/* SPDX-License-Identifier: Apache-2.0 */
/*
 * test_proto - libkms_proto: the msgpack pre-scanner and reader (proto/mp.h), the messages
 * (proto/msg.h) and the frames (proto/frame.h).
 *
 * The samples below (every operation, request and reply, at minimum, maximum and typical
 * values, and error replies) are also the fuzzers' seeds: `test_proto --write-seeds DIR`
 * writes them to DIR/fuzz_proto_request/ and DIR/fuzz_proto_reply/, and a test checks that
 * tests/fuzz/corpus/ holds exactly those encodings.
 */
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>
#include <msgpack.h>

#include "common/cbs.h"
#include "common/err.h"
#include "proto/frame.h"
#include "proto/mp.h"
#include "proto/msg.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

#ifndef KMS_SOURCE_DIR
#error "KMS_SOURCE_DIR must name the source tree (tests/unit/CMakeLists.txt)"
#endif

#define NUM(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------------------------------- */
/* Samples                                                                                   */

struct req_sample {
	const char *name;
	struct kms_proto_request msg;
};

struct rep_sample {
	const char *name;
	struct kms_proto_reply msg;
};

static struct req_sample req_samples[21];
static struct rep_sample rep_samples[32];
static size_t num_req_samples, num_rep_samples;

static void
set_str(char *dst, size_t *len, const char *s)
{
	*len = strlen(s);
	memcpy(dst, s, *len + 1);
}

/* n bytes of visible ASCII, every character of the set in turn. */
static void
fill_ascii(char *dst, size_t *len, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		dst[i] = (char)(0x21 + i % 94);
	}
	dst[n] = '\0';
	*len = n;
}

/* n bytes of UTF-8 that mix 1-, 2-, 3- and 4-byte characters. */
static void
fill_utf8(char *dst, size_t *len, size_t n)
{
	static const char cycle[] = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"; /* a é € 😀 */
	const size_t c = sizeof(cycle) - 1;
	size_t i = 0;

	for (; i + c <= n; i += c) {
		memcpy(dst + i, cycle, c);
	}
	for (; i < n; i++) {
		dst[i] = 'z';
	}
	dst[n] = '\0';
	*len = n;
}

static void
fill_bytes(uint8_t *dst, size_t n, uint8_t seed)
{
	size_t i;

	for (i = 0; i < n; i++) {
		dst[i] = (uint8_t)(seed + 7 * i);
	}
}

static struct kms_proto_request *
add_req(const char *name, enum kms_proto_op op, uint32_t id)
{
	struct req_sample *s;

	if (num_req_samples == NUM(req_samples)) {
		fprintf(stderr, "req_samples[] is too small\n");
		abort();
	}
	s = &req_samples[num_req_samples++];
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->msg.op = op;
	s->msg.id = id;
	return &s->msg;
}

static struct kms_proto_reply *
add_rep(const char *name, enum kms_proto_op op, uint32_t id, int status)
{
	struct rep_sample *s;

	if (num_rep_samples == NUM(rep_samples)) {
		fprintf(stderr, "rep_samples[] is too small\n");
		abort();
	}
	s = &rep_samples[num_rep_samples++];
	memset(s, 0, sizeof(*s));
	s->name = name;
	s->msg.op = op;
	s->msg.id = id;
	s->msg.status = status;
	return &s->msg;
}

static void
build_samples(void)
{
	struct kms_proto_request *q;
	struct kms_proto_reply *p;
	struct kms_proto_provision_rep *pr;
	struct kms_proto_certificate_rep *cr;
	struct kms_proto_rotate_keys_rep *rr;
	struct kms_proto_sign_rep *sr;

	num_req_samples = 0;
	num_rep_samples = 0;

	add_req("health-min", KMS_PROTO_HEALTH, 0);
	add_req("health-max", KMS_PROTO_HEALTH, UINT32_MAX);
	add_req("certificate", KMS_PROTO_CERTIFICATE, 1);
	q = add_req("provision-min", KMS_PROTO_PROVISION, 0);
	set_str(q->u.provision.client_id, &q->u.provision.client_id_len, "a");
	set_str(q->u.provision.identity, &q->u.provision.identity_len, "b");
	q->u.provision.key_period = 0;
	q = add_req("provision-max", KMS_PROTO_PROVISION, UINT32_MAX);
	fill_ascii(q->u.provision.client_id, &q->u.provision.client_id_len,
		   KMS_PROTO_MAX_CLIENT_ID);
	fill_utf8(q->u.provision.identity, &q->u.provision.identity_len, KMS_PROTO_MAX_URI);
	q->u.provision.key_period = UINT64_MAX;
	q->u.provision.no_plain = true; /* over HTTP/2 */
	q = add_req("provision", KMS_PROTO_PROVISION, 42);
	set_str(q->u.provision.client_id, &q->u.provision.client_id_len, "mcptt-server-1");
	set_str(q->u.provision.identity, &q->u.provision.identity_len, "sip:alice@example.org");
	q->u.provision.key_period = 1532;
	q = add_req("rotate-min", KMS_PROTO_ROTATE_KEYS, 0);
	set_str(q->u.rotate_keys.client_id, &q->u.rotate_keys.client_id_len, "~");
	q = add_req("rotate-max", KMS_PROTO_ROTATE_KEYS, UINT32_MAX);
	fill_ascii(q->u.rotate_keys.client_id, &q->u.rotate_keys.client_id_len,
		   KMS_PROTO_MAX_CLIENT_ID);
	q = add_req("rotate", KMS_PROTO_ROTATE_KEYS, 1000);
	set_str(q->u.rotate_keys.client_id, &q->u.rotate_keys.client_id_len, "sip:bob@example.org");
	q = add_req("sign-min", KMS_PROTO_SIGN, 0);
	set_str(q->u.sign.client_id, &q->u.sign.client_id_len, "!"); /* and a zero digest */
	q = add_req("sign-max", KMS_PROTO_SIGN, UINT32_MAX);
	fill_ascii(q->u.sign.client_id, &q->u.sign.client_id_len, KMS_PROTO_MAX_CLIENT_ID);
	memset(q->u.sign.digest, 0xff, sizeof(q->u.sign.digest));
	q = add_req("sign", KMS_PROTO_SIGN, 77);
	set_str(q->u.sign.client_id, &q->u.sign.client_id_len, "alice");
	fill_bytes(q->u.sign.digest, sizeof(q->u.sign.digest), 10);
	q = add_req("tls-sign-min", KMS_PROTO_TLS_SIGN, 0);
	q->u.tls_sign.digest_len = KMS_PROTO_TLS_DIGEST_MIN; /* zeros */
	q = add_req("tls-sign-max", KMS_PROTO_TLS_SIGN, UINT32_MAX);
	q->u.tls_sign.digest_len = KMS_PROTO_TLS_DIGEST_MAX;
	memset(q->u.tls_sign.digest, 0xff, KMS_PROTO_TLS_DIGEST_MAX);
	q = add_req("tls-sign", KMS_PROTO_TLS_SIGN, 78);
	q->u.tls_sign.digest_len = 32;
	fill_bytes(q->u.tls_sign.digest, 32, 12);
	q = add_req("audit-sign-min", KMS_PROTO_AUDIT_SIGN, 0);
	q->u.audit_sign.seq = 1; /* a zero hash, time 0 */
	q = add_req("audit-sign-max", KMS_PROTO_AUDIT_SIGN, UINT32_MAX);
	q->u.audit_sign.seq = INT64_MAX;
	memset(q->u.audit_sign.hash, 0xff, KMS_PROTO_AUDIT_HASH_LEN);
	q->u.audit_sign.time_s = INT64_MAX;
	q = add_req("audit-sign", KMS_PROTO_AUDIT_SIGN, 79);
	q->u.audit_sign.seq = 1000;
	fill_bytes(q->u.audit_sign.hash, KMS_PROTO_AUDIT_HASH_LEN, 14);
	q->u.audit_sign.time_s = 1714564800;
	q = add_req("verify-min", KMS_PROTO_VERIFY, 0);
	set_str(q->u.verify.client_id, &q->u.verify.client_id_len, "!");
	set_str(q->u.verify.key_id, &q->u.verify.key_id_len, "~");
	q->u.verify.signed_info_len = 1; /* one zero byte, a zero signature */
	q = add_req("verify-max", KMS_PROTO_VERIFY, UINT32_MAX);
	fill_ascii(q->u.verify.client_id, &q->u.verify.client_id_len, KMS_PROTO_MAX_CLIENT_ID);
	fill_ascii(q->u.verify.key_id, &q->u.verify.key_id_len, KMS_PROTO_MAX_KEY_ID);
	memset(q->u.verify.signed_info, 0xff, KMS_PROTO_MAX_SIGNED_INFO);
	q->u.verify.signed_info_len = KMS_PROTO_MAX_SIGNED_INFO;
	memset(q->u.verify.signature, 0xff, KMS_PROTO_HMAC_LEN);
	q = add_req("verify", KMS_PROTO_VERIFY, 81);
	set_str(q->u.verify.client_id, &q->u.verify.client_id_len, "bob");
	set_str(q->u.verify.key_id, &q->u.verify.key_id_len, "ik.0011223344556677.bob");
	fill_bytes(q->u.verify.signed_info, 700, 16);
	q->u.verify.signed_info_len = 700;
	fill_bytes(q->u.verify.signature, KMS_PROTO_HMAC_LEN, 17);

	p = add_rep("health-min", KMS_PROTO_HEALTH, 0, KMS_OK);
	p->u.health.token_present = false; /* and an empty issuer */
	p = add_rep("health-max", KMS_PROTO_HEALTH, UINT32_MAX, KMS_OK);
	p->u.health.token_present = true;
	fill_utf8(p->u.health.issuer, &p->u.health.issuer_len, KMS_PROTO_MAX_NAME);
	add_rep("health-error", KMS_PROTO_HEALTH, 3, KMS_ERR_HSM_UNAVAIL);

	p = add_rep("provision-min", KMS_PROTO_PROVISION, 0, KMS_OK);
	pr = &p->u.provision;
	set_str(pr->kms_uri, &pr->kms_uri_len, "k");
	pr->rsk_wrapped_len = pr->ssk_wrapped_len = pr->pvt_wrapped_len = 1;
	set_str(pr->trk_id, &pr->trk_id_len, "t");
	p = add_rep("provision-max", KMS_PROTO_PROVISION, UINT32_MAX, KMS_OK);
	pr = &p->u.provision;
	pr->key_period = UINT64_MAX;
	pr->period_start = UINT64_MAX;
	pr->period_end = UINT64_MAX;
	fill_utf8(pr->kms_uri, &pr->kms_uri_len, KMS_PROTO_MAX_URI);
	memset(pr->user_id, 0xff, sizeof(pr->user_id));
	memset(pr->rsk_wrapped, 0xff, sizeof(pr->rsk_wrapped));
	memset(pr->ssk_wrapped, 0xfe, sizeof(pr->ssk_wrapped));
	memset(pr->pvt_wrapped, 0xfd, sizeof(pr->pvt_wrapped));
	pr->rsk_wrapped_len = pr->ssk_wrapped_len = pr->pvt_wrapped_len = KMS_PROTO_MAX_WRAPPED;
	fill_ascii(pr->trk_id, &pr->trk_id_len, KMS_PROTO_MAX_KEY_ID);
	memset(pr->hmac, 0xff, sizeof(pr->hmac));
	p = add_rep("provision", KMS_PROTO_PROVISION, 42, KMS_OK);
	pr = &p->u.provision;
	pr->key_period = 1532;
	pr->period_start = 3927686400u;
	pr->period_end = 3930278399u;
	set_str(pr->kms_uri, &pr->kms_uri_len, "kms.example.org");
	fill_bytes(pr->user_id, sizeof(pr->user_id), 1);
	fill_bytes(pr->rsk_wrapped, 264, 2);
	pr->rsk_wrapped_len = 264;
	fill_bytes(pr->ssk_wrapped, 40, 3);
	pr->ssk_wrapped_len = 40;
	fill_bytes(pr->pvt_wrapped, 72, 4);
	pr->pvt_wrapped_len = 72;
	set_str(pr->trk_id, &pr->trk_id_len, "tk.12.alice@example.org");
	fill_bytes(pr->hmac, sizeof(pr->hmac), 5);
	add_rep("provision-error", KMS_PROTO_PROVISION, 43, KMS_ERR_FORBIDDEN);

	p = add_rep("certificate-min", KMS_PROTO_CERTIFICATE, 0, KMS_OK);
	cr = &p->u.certificate;
	set_str(cr->kms_uri, &cr->kms_uri_len, "k"); /* and an empty cert_uri */
	cr->user_key_period = 1;
	cr->user_key_offset = 0;
	cr->parameter_set = KMS_PROTO_PARAMETER_SET;
	p = add_rep("certificate-max", KMS_PROTO_CERTIFICATE, UINT32_MAX, KMS_OK);
	cr = &p->u.certificate;
	fill_utf8(cr->kms_uri, &cr->kms_uri_len, KMS_PROTO_MAX_URI);
	fill_utf8(cr->cert_uri, &cr->cert_uri_len, KMS_PROTO_MAX_URI);
	memset(cr->kpak, 0xff, sizeof(cr->kpak));
	memset(cr->z_t, 0xff, sizeof(cr->z_t));
	cr->user_key_period = UINT64_MAX;
	cr->user_key_offset = UINT64_MAX;
	cr->parameter_set = KMS_PROTO_PARAMETER_SET;
	p = add_rep("certificate", KMS_PROTO_CERTIFICATE, 7, KMS_OK);
	cr = &p->u.certificate;
	set_str(cr->kms_uri, &cr->kms_uri_len, "kms.example.org");
	set_str(cr->cert_uri, &cr->cert_uri_len, "cert1.kms.example.org");
	cr->kpak[0] = 0x04;
	fill_bytes(cr->kpak + 1, sizeof(cr->kpak) - 1, 6);
	cr->z_t[0] = 0x04;
	fill_bytes(cr->z_t + 1, sizeof(cr->z_t) - 1, 7);
	cr->user_key_period = 2592000;
	cr->user_key_offset = 0;
	cr->parameter_set = KMS_PROTO_PARAMETER_SET;
	add_rep("certificate-error", KMS_PROTO_CERTIFICATE, 8, KMS_ERR_INTERNAL);

	p = add_rep("rotate-min", KMS_PROTO_ROTATE_KEYS, 0, KMS_OK);
	rr = &p->u.rotate_keys;
	rr->new_trk_wrapped_len = rr->new_ink_wrapped_len = 1;
	set_str(rr->new_trk_id, &rr->new_trk_id_len, "!");
	set_str(rr->new_ink_id, &rr->new_ink_id_len, "~");
	p = add_rep("rotate-max", KMS_PROTO_ROTATE_KEYS, UINT32_MAX, KMS_OK);
	rr = &p->u.rotate_keys;
	memset(rr->new_trk_wrapped, 0xff, sizeof(rr->new_trk_wrapped));
	memset(rr->new_ink_wrapped, 0xee, sizeof(rr->new_ink_wrapped));
	rr->new_trk_wrapped_len = rr->new_ink_wrapped_len = KMS_PROTO_MAX_WRAPPED;
	fill_ascii(rr->new_trk_id, &rr->new_trk_id_len, KMS_PROTO_MAX_KEY_ID);
	fill_ascii(rr->new_ink_id, &rr->new_ink_id_len, KMS_PROTO_MAX_KEY_ID);
	p = add_rep("rotate", KMS_PROTO_ROTATE_KEYS, 99, KMS_OK);
	rr = &p->u.rotate_keys;
	fill_bytes(rr->new_trk_wrapped, 40, 8);
	rr->new_trk_wrapped_len = 40;
	fill_bytes(rr->new_ink_wrapped, 40, 9);
	rr->new_ink_wrapped_len = 40;
	set_str(rr->new_trk_id, &rr->new_trk_id_len, "tk.13.alice@example.org");
	set_str(rr->new_ink_id, &rr->new_ink_id_len, "ik.13.alice@example.org");
	add_rep("rotate-error", KMS_PROTO_ROTATE_KEYS, 100, KMS_ERR_IO);

	p = add_rep("sign-min", KMS_PROTO_SIGN, 0, KMS_OK);
	set_str(p->u.sign.key_id, &p->u.sign.key_id_len, "~"); /* and a zero signature */
	p = add_rep("sign-max", KMS_PROTO_SIGN, UINT32_MAX, KMS_OK);
	sr = &p->u.sign;
	memset(sr->signature, 0xff, sizeof(sr->signature));
	fill_ascii(sr->key_id, &sr->key_id_len, KMS_PROTO_MAX_KEY_ID);
	p = add_rep("sign", KMS_PROTO_SIGN, 77, KMS_OK);
	sr = &p->u.sign;
	fill_bytes(sr->signature, sizeof(sr->signature), 11);
	set_str(sr->key_id, &sr->key_id_len, "ik.0.alice");
	add_rep("sign-error", KMS_PROTO_SIGN, 78, KMS_ERR_HSM);

	add_rep("tls-sign-min", KMS_PROTO_TLS_SIGN, 0, KMS_OK); /* a zero signature */
	p = add_rep("tls-sign-max", KMS_PROTO_TLS_SIGN, UINT32_MAX, KMS_OK);
	memset(p->u.tls_sign.signature, 0xff, KMS_PROTO_TLS_SIG_LEN);
	p = add_rep("tls-sign", KMS_PROTO_TLS_SIGN, 78, KMS_OK);
	fill_bytes(p->u.tls_sign.signature, KMS_PROTO_TLS_SIG_LEN, 13);
	add_rep("tls-sign-error", KMS_PROTO_TLS_SIGN, 79, KMS_ERR_UNSUPPORTED);
	add_rep("audit-sign-min", KMS_PROTO_AUDIT_SIGN, 0, KMS_OK); /* a zero signature */
	p = add_rep("audit-sign-max", KMS_PROTO_AUDIT_SIGN, UINT32_MAX, KMS_OK);
	memset(p->u.audit_sign.signature, 0xff, KMS_PROTO_AUDIT_SIG_LEN);
	p = add_rep("audit-sign", KMS_PROTO_AUDIT_SIGN, 80, KMS_OK);
	fill_bytes(p->u.audit_sign.signature, KMS_PROTO_AUDIT_SIG_LEN, 15);
	add_rep("audit-sign-error", KMS_PROTO_AUDIT_SIGN, 81, KMS_ERR_FORBIDDEN);
	add_rep("verify-min", KMS_PROTO_VERIFY, 0, KMS_OK); /* not rotated */
	p = add_rep("verify", KMS_PROTO_VERIFY, UINT32_MAX, KMS_OK);
	p->u.verify.rotated = true;
	add_rep("verify-error", KMS_PROTO_VERIFY, 82, KMS_ERR_AUTH);
	/* a plaintext client's set: the keys themselves, no TrK, a zero hmac */
	p = add_rep("provision-plain", KMS_PROTO_PROVISION, 43, KMS_OK);
	pr = &p->u.provision;
	pr->plain = true;
	pr->key_period = 1532;
	pr->period_start = 3927686400u;
	pr->period_end = 3930278399u;
	set_str(pr->kms_uri, &pr->kms_uri_len, "kms.example.org");
	fill_bytes(pr->user_id, sizeof(pr->user_id), 1);
	fill_bytes(pr->rsk_wrapped, KMS_PROTO_PLAIN_RSK_LEN, 2);
	pr->rsk_wrapped_len = KMS_PROTO_PLAIN_RSK_LEN;
	fill_bytes(pr->ssk_wrapped, KMS_PROTO_PLAIN_SSK_LEN, 3);
	pr->ssk_wrapped_len = KMS_PROTO_PLAIN_SSK_LEN;
	fill_bytes(pr->pvt_wrapped, KMS_PROTO_PLAIN_PVT_LEN, 4);
	pr->pvt_wrapped_len = KMS_PROTO_PLAIN_PVT_LEN;
}

/* The sample called name (a request, or a reply when reply is set); aborts if there is none. */
static const void *
find_sample(bool reply, const char *name)
{
	size_t i;

	for (i = 0; !reply && i < num_req_samples; i++) {
		if (strcmp(req_samples[i].name, name) == 0) {
			return &req_samples[i].msg;
		}
	}
	for (i = 0; reply && i < num_rep_samples; i++) {
		if (strcmp(rep_samples[i].name, name) == 0) {
			return &rep_samples[i].msg;
		}
	}
	fprintf(stderr, "no sample %s\n", name);
	abort();
}

static int
suite_init(void)
{
	build_samples();
	return 0;
}

/* One encoded message: a request or a reply sample. */
struct enc {
	uint8_t b[KMS_MAX_IPC];
	size_t n;
};

static void
enc_req(struct enc *e, size_t i)
{
	CU_ASSERT_EQUAL_FATAL(
		kms_proto_encode_request(e->b, sizeof(e->b), &e->n, &req_samples[i].msg), KMS_OK);
}

static void
enc_rep(struct enc *e, size_t i)
{
	CU_ASSERT_EQUAL_FATAL(
		kms_proto_encode_reply(e->b, sizeof(e->b), &e->n, &rep_samples[i].msg), KMS_OK);
}

/*
 * Decode buf as a request (reply false) or a reply; on failure check that the output was not
 * touched. Returns the decoder's code.
 */
static struct kms_proto_request dec_req_out;
static struct kms_proto_reply dec_rep_out;

static int
dec(bool reply, const uint8_t *buf, size_t n)
{
	static struct kms_proto_request req_before;
	static struct kms_proto_reply rep_before;
	int r;

	if (reply) {
		memset(&dec_rep_out, 0xa5, sizeof(dec_rep_out));
		rep_before = dec_rep_out;
		r = kms_proto_decode_reply(&dec_rep_out, buf, n);
		if (r != KMS_OK) {
			CU_ASSERT(memcmp(&dec_rep_out, &rep_before, sizeof(rep_before)) == 0);
		}
	} else {
		memset(&dec_req_out, 0xa5, sizeof(dec_req_out));
		req_before = dec_req_out;
		r = kms_proto_decode_request(&dec_req_out, buf, n);
		if (r != KMS_OK) {
			CU_ASSERT(memcmp(&dec_req_out, &req_before, sizeof(req_before)) == 0);
		}
	}
	return r;
}

/* Re-encode what dec() decoded last. */
static int
reenc(bool reply, struct enc *e)
{
	return reply ? kms_proto_encode_reply(e->b, sizeof(e->b), &e->n, &dec_rep_out)
		     : kms_proto_encode_request(e->b, sizeof(e->b), &e->n, &dec_req_out);
}

/* Every sample, encoded, with its direction: requests first, then replies. */
static size_t
num_samples(void)
{
	return num_req_samples + num_rep_samples;
}

static bool
sample(size_t k, struct enc *e)
{
	if (k < num_req_samples) {
		enc_req(e, k);
		return false;
	}
	enc_rep(e, k - num_req_samples);
	return true;
}

static const char *
sample_name(size_t k)
{
	return k < num_req_samples ? req_samples[k].name : rep_samples[k - num_req_samples].name;
}

/* ---------------------------------------------------------------------------------------- */
/* mp: the pre-scanner and the typed getters                                                */

static const struct kms_mp_limits wide = {KMS_MP_MAX_DEPTH, UINT32_MAX, UINT32_MAX};

static int
prescan_hex(const struct kms_mp_limits *lim, const char *hex)
{
	uint8_t buf[512];
	size_t n = kms_test_hex(buf, sizeof(buf), hex);

	return kms_mp_prescan(lim, buf, n);
}

static void
test_prescan_valid(void)
{
	static const char *const ok[] = {
		"c0", "c2", "c3", "00", "7f", "e0", "ff", "cc ff", "cd ffff", "ce ffffffff",
		"cf ffffffffffffffff", "d0 80", "d1 8000", "d2 80000000", "d3 8000000000000000",
		"a0", "a3 616263", "d9 00", "da 0000", "db 00000000", "c4 00", "c5 0001 ff",
		"c6 00000000", "90", "80", "dc 0000", "dd 00000000", "de 0000", "df 00000000",
		"92 c0 c0", "81 a1 6b 93 01 02 03", "82 a1 61 80 a1 62 90",
		/* non-canonical forms are well-formed msgpack: the getters refuse them */
		"d9 01 41", "cc 01", "de 0001 a1 61 c0"};
	size_t i;

	for (i = 0; i < NUM(ok); i++) {
		CU_ASSERT_EQUAL(prescan_hex(&wide, ok[i]), KMS_OK);
	}
}

/* Types no message uses: 0xc1, floats, ext and fixext, alone and inside a map. */
static void
test_prescan_refused_types(void)
{
	static const char *const bad[] = {"c1",
					  "ca 00000000",
					  "cb 0000000000000000",
					  "c7 01 01 00",
					  "c8 0001 01 00",
					  "c9 00000001 01 00",
					  "d4 01 00",
					  "d5 01 0000",
					  "d6 ff 00000000",
					  "d7 ff 0000000000000000",
					  "d8 01 00000000000000000000000000000000",
					  "81 a1 61 ca 00000000",
					  "92 c0 d6 ff 00000000"};
	size_t i;

	for (i = 0; i < NUM(bad); i++) {
		CU_ASSERT_EQUAL(prescan_hex(&wide, bad[i]), KMS_ERR_PARSE);
	}
}

static void
test_prescan_truncated_and_trailing(void)
{
	static const char *const truncated[] = {
		"",
		"cc",
		"cd ff",
		"cf 00000000",
		"a2 61",
		"d9",
		"d9 02 61",
		"c4 01",
		"c5 00",
		"91",
		"92 c0",
		"81 a1 61",
		"82 c0 c0 c0",    /* a map of 2 pairs needs at least 4 bytes */
		"dd 00000002 c0", /* an array of 2 needs at least 2 */
		"d0",
		"d3 ffff"};
	size_t i;

	for (i = 0; i < NUM(truncated); i++) {
		CU_ASSERT_EQUAL(prescan_hex(&wide, truncated[i]), KMS_ERR_TRUNCATED);
	}
	CU_ASSERT_EQUAL(prescan_hex(&wide, "c0 c0"), KMS_ERR_TRAILING);
	CU_ASSERT_EQUAL(prescan_hex(&wide, "80 00"), KMS_ERR_TRAILING);
	CU_ASSERT_EQUAL(prescan_hex(&wide, "91 c0 c0"), KMS_ERR_TRAILING);
	CU_ASSERT_EQUAL(kms_mp_prescan(&wide, NULL, 0), KMS_ERR_TRUNCATED);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The 5-byte headers that make msgpack-c reserve gigabytes: refused at once, no allocation. */
static void
test_prescan_huge_claims(void)
{
	static const char *const claims[] = {
		"dd 80000000",         "dd ffffffff", "df 80000000", "df ffffffff", "db ffffffff",
		"c6 ffffffff",         "dc ffff",     "de ffff",     "da ffff",     "c5 ffff",
		"81 a1 61 dd 80000000"};
	const struct kms_mp_limits proto = KMS_PROTO_LIMITS;
	struct mallinfo2 before, after;
	uint8_t buf[16];
	size_t i, n, rounds;
	double t0;
	int r1, r2, r3;

	for (i = 0; i < NUM(claims); i++) {
		n = kms_test_hex(buf, sizeof(buf), claims[i]);
		CU_ASSERT_EQUAL(kms_mp_prescan(&wide, buf, n), KMS_ERR_TRUNCATED);
		r1 = kms_mp_prescan(&proto, buf, n);
		CU_ASSERT(r1 == KMS_ERR_TOO_LARGE || r1 == KMS_ERR_TRUNCATED);
		before = mallinfo2();
		t0 = now();
		for (rounds = 0; rounds < 20000; rounds++) {
			r2 = dec(false, buf, n);
			r3 = dec(true, buf, n);
			if (r2 == KMS_OK || r3 == KMS_OK) {
				break;
			}
		}
		after = mallinfo2();
		CU_ASSERT_EQUAL(rounds, 20000);
		/* 40,000 decodes of gigabyte claims in under 2 s, heap unchanged: nothing reserved
		 */
		CU_ASSERT(now() - t0 < 2.0);
		CU_ASSERT_EQUAL(before.uordblks, after.uordblks);
		CU_ASSERT_EQUAL(before.hblkhd, after.hblkhd);
	}
	/* Counts and lengths over the limits, with the bytes present. */
	{
		static uint8_t big[KMS_PROTO_MAX_URI + 8];
		const struct kms_mp_limits small = {2, 3, 4};

		CU_ASSERT_EQUAL(prescan_hex(&small, "94 c0 c0 c0 c0"), KMS_ERR_TOO_LARGE);
		CU_ASSERT_EQUAL(prescan_hex(&small, "93 c0 c0 c0"), KMS_OK);
		CU_ASSERT_EQUAL(prescan_hex(&small, "84 00 00 01 01 02 02 03 03"),
				KMS_ERR_TOO_LARGE);
		CU_ASSERT_EQUAL(prescan_hex(&small, "a5 6161616161"), KMS_ERR_TOO_LARGE);
		CU_ASSERT_EQUAL(prescan_hex(&small, "c4 05 0000000000"), KMS_ERR_TOO_LARGE);
		CU_ASSERT_EQUAL(prescan_hex(&small, "a4 61616161"), KMS_OK);
		/* A str one byte over the messages' longest field. */
		big[0] = 0xda;
		big[1] = (KMS_PROTO_MAX_URI + 1) >> 8;
		big[2] = (KMS_PROTO_MAX_URI + 1) & 0xff;
		memset(big + 3, 'a', KMS_PROTO_MAX_URI + 1);
		CU_ASSERT_EQUAL(kms_mp_prescan(&proto, big, KMS_PROTO_MAX_URI + 4),
				KMS_ERR_TOO_LARGE);
		big[2] = KMS_PROTO_MAX_URI & 0xff;
		CU_ASSERT_EQUAL(kms_mp_prescan(&proto, big, KMS_PROTO_MAX_URI + 3), KMS_OK);
	}
}

/* Nesting exactly at the limit passes, one more level fails, and a deep bomb fails fast. */
static void
test_prescan_depth(void)
{
	static uint8_t bomb[1 << 20];
	struct kms_mp_limits lim = {1, 16, 16};
	uint8_t buf[64];
	unsigned int d;
	size_t i;
	double t0;

	for (d = 1; d <= KMS_MP_MAX_DEPTH; d++) {
		lim.max_depth = d;
		/* d nested arrays around nil: depth d */
		for (i = 0; i < d; i++) {
			buf[i] = 0x91;
		}
		buf[d] = 0xc0;
		CU_ASSERT_EQUAL(kms_mp_prescan(&lim, buf, d + 1), KMS_OK);
		/* d + 1 nested maps ({"k": {"k": ... nil}}) */
		for (i = 0; i <= d; i++) {
			buf[3 * i] = 0x81;
			buf[3 * i + 1] = 0xa1;
			buf[3 * i + 2] = 'k';
		}
		buf[3 * (d + 1)] = 0xc0;
		CU_ASSERT_EQUAL(kms_mp_prescan(&lim, buf, 3 * (d + 1) + 1), KMS_ERR_TOO_LARGE);
		/* an empty container counts too */
		for (i = 0; i < d; i++) {
			buf[i] = 0x91;
		}
		buf[d] = 0x90;
		CU_ASSERT_EQUAL(kms_mp_prescan(&lim, buf, d + 1), KMS_ERR_TOO_LARGE);
	}
	lim.max_depth = 0;
	CU_ASSERT_EQUAL(prescan_hex(&lim, "c0"), KMS_ERR_INVALID_ARG);
	lim.max_depth = KMS_MP_MAX_DEPTH + 1;
	CU_ASSERT_EQUAL(prescan_hex(&lim, "c0"), KMS_ERR_INVALID_ARG);

	/* A megabyte of [[[[...: refused at the first level too deep, through the decoders too. */
	memset(bomb, 0x91, sizeof(bomb));
	bomb[sizeof(bomb) - 1] = 0xc0;
	t0 = now();
	CU_ASSERT_EQUAL(kms_mp_prescan(&wide, bomb, sizeof(bomb)), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(dec(false, bomb, sizeof(bomb)), KMS_ERR_TOO_LARGE);
	for (i = 0; i + 3 <= sizeof(bomb); i += 3) {
		bomb[i] = 0x81;
		bomb[i + 1] = 0xa1;
		bomb[i + 2] = 'k';
	}
	CU_ASSERT_EQUAL(dec(true, bomb, sizeof(bomb)), KMS_ERR_TOO_LARGE);
	CU_ASSERT(now() - t0 < 1.0);
	/* A message nested one level: a map in the top-level map. */
	CU_ASSERT_EQUAL(prescan_hex(&KMS_PROTO_LIMITS, "81 a1 61 80"), KMS_ERR_TOO_LARGE);
}

static void
test_utf8(void)
{
	static const char *const valid[] = {
		"",         "00",          "7f",          "c2 80",
		"df bf",    "e0 a0 80",    "ed 9f bf",    "ee 80 80",
		"ef bf bf", "f0 90 80 80", "f4 8f bf bf", "61 c3 a9 e2 82 ac f0 9f 98 80"};
	static const char *const invalid[] = {
		"80",          "bf",          "c0 80",       "c1 bf",         "c2",       "c2 7f",
		"c2 c0",       "e0 80 80",    "e0 9f bf",    "ed a0 80",      "ed bf bf", "e1 80",
		"f0 80 80 80", "f0 8f bf bf", "f4 90 80 80", "f5 80 80 80",   "ff",       "fe",
		"f0 90 80",    "e2 82 61",    "61 80",       "f8 88 80 80 80"};
	uint8_t buf[64], str[80];
	size_t i, n;

	for (i = 0; i < NUM(valid); i++) {
		n = kms_test_hex(buf, sizeof(buf), valid[i]);
		CU_ASSERT_EQUAL(kms_mp_utf8_check(buf, n), KMS_OK);
		str[0] = (uint8_t)(0xa0 | n);
		memcpy(str + 1, buf, n);
		CU_ASSERT_EQUAL(kms_mp_prescan(&wide, str, n + 1), KMS_OK);
	}
	for (i = 0; i < NUM(invalid); i++) {
		n = kms_test_hex(buf, sizeof(buf), invalid[i]);
		CU_ASSERT_EQUAL(kms_mp_utf8_check(buf, n), KMS_ERR_ENCODING);
		str[0] = (uint8_t)(0xa0 | n);
		memcpy(str + 1, buf, n);
		CU_ASSERT_EQUAL(kms_mp_prescan(&wide, str, n + 1), KMS_ERR_ENCODING);
		/* A bin may hold anything. */
		str[0] = 0xc4;
		str[1] = (uint8_t)n;
		memcpy(str + 2, buf, n);
		CU_ASSERT_EQUAL(kms_mp_prescan(&wide, str, n + 2), KMS_OK);
	}
	/* Every 16-bit code point round-trips through the checker's idea of validity. */
	for (i = 0x80; i < 0x10000; i++) {
		if (i < 0x800) {
			buf[0] = (uint8_t)(0xc0 | (i >> 6));
			buf[1] = (uint8_t)(0x80 | (i & 0x3f));
			n = 2;
		} else {
			buf[0] = (uint8_t)(0xe0 | (i >> 12));
			buf[1] = (uint8_t)(0x80 | ((i >> 6) & 0x3f));
			buf[2] = (uint8_t)(0x80 | (i & 0x3f));
			n = 3;
		}
		CU_ASSERT_EQUAL(kms_mp_utf8_check(buf, n),
				i >= 0xd800 && i <= 0xdfff ? KMS_ERR_ENCODING : KMS_OK);
	}
}

struct int_case {
	const char *hex;
	int r_uint;
	uint64_t v_uint;
	int r_int;
	int64_t v_int;
};

/* Text for logs and records: UTF-8 without C0, DEL or C1; the rest of UTF-8 is fine. */
static void
test_text_check(void)
{
	static const struct {
		const char *s;
		int want;
	} cases[] = {
		{"", KMS_OK},
		{"sip:alice@example.org", KMS_OK},
		{"sip:j\xc3\xb6rg@example.org", KMS_OK}, /* U+00F6 */
		{"\xc2\xa0", KMS_OK},                    /* U+00A0, just past C1 */
		{"\xe2\x80\xae", KMS_OK},                /* U+202E is not a control here */
		{"a\tb", KMS_ERR_ENCODING},              /* C0 */
		{"a\nb", KMS_ERR_ENCODING},
		{"a\x1f"
		 "b",
		 KMS_ERR_ENCODING},
		{"a\x7f", KMS_ERR_ENCODING},     /* DEL */
		{"a\xc2\x80", KMS_ERR_ENCODING}, /* U+0080 */
		{"a\xc2\x85"
		 "b",
		 KMS_ERR_ENCODING},             /* NEL */
		{"\xc2\x9f", KMS_ERR_ENCODING}, /* U+009F */
		{"a\xc2", KMS_ERR_ENCODING},    /* cut UTF-8 */
		{"\xc0\xaf", KMS_ERR_ENCODING}, /* overlong */
	};
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL(kms_mp_text_check((const uint8_t *)cases[i].s, strlen(cases[i].s)),
				cases[i].want);
	}
	/* NUL counts by length, not as an end */
	CU_ASSERT_EQUAL(kms_mp_text_check((const uint8_t *)"a\0b", 3), KMS_ERR_ENCODING);
}

/* Canonical integer encodings are read; longer forms, and the wrong sign, are not. */
static void
test_getters_int(void)
{
	static const struct int_case cases[] = {
		{"00", KMS_OK, 0, KMS_OK, 0},
		{"7f", KMS_OK, 127, KMS_OK, 127},
		{"cc 80", KMS_OK, 128, KMS_OK, 128},
		{"cc 7f", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"cd 0100", KMS_OK, 256, KMS_OK, 256},
		{"cd 00ff", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"ce 00010000", KMS_OK, 65536, KMS_OK, 65536},
		{"ce 0000ffff", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"cf 0000000100000000", KMS_OK, 1ULL << 32, KMS_OK, 1LL << 32},
		{"cf 00000000ffffffff", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"cf 7fffffffffffffff", KMS_OK, INT64_MAX, KMS_OK, INT64_MAX},
		{"cf ffffffffffffffff", KMS_OK, UINT64_MAX, KMS_ERR_RANGE, 0},
		{"ff", KMS_ERR_RANGE, 0, KMS_OK, -1},
		{"e0", KMS_ERR_RANGE, 0, KMS_OK, -32},
		{"d0 df", KMS_ERR_RANGE, 0, KMS_OK, -33},
		{"d0 e0", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"d0 00", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"d0 7f", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"d0 80", KMS_ERR_RANGE, 0, KMS_OK, -128},
		{"d1 ff7f", KMS_ERR_RANGE, 0, KMS_OK, -129},
		{"d1 ff80", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"d2 ffff7fff", KMS_ERR_RANGE, 0, KMS_OK, -32769},
		{"d2 ffff8000", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"d3 ffffffff7fffffff", KMS_ERR_RANGE, 0, KMS_OK, -2147483649LL},
		{"d3 ffffffff80000000", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"d3 8000000000000000", KMS_ERR_RANGE, 0, KMS_OK, INT64_MIN},
		{"d3 0000000000000001", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"c0", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"c3", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"a1 31", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"ca 3f800000", KMS_ERR_PARSE, 0, KMS_ERR_PARSE, 0},
		{"cd 01", KMS_ERR_TRUNCATED, 0, KMS_ERR_TRUNCATED, 0},
		{"", KMS_ERR_TRUNCATED, 0, KMS_ERR_TRUNCATED, 0},
	};
	uint8_t buf[16];
	struct kms_cbs cbs, before;
	uint64_t u;
	int64_t s;
	size_t i, n;

	for (i = 0; i < NUM(cases); i++) {
		n = kms_test_hex(buf, sizeof(buf), cases[i].hex);
		kms_cbs_init(&cbs, buf, n);
		before = cbs;
		u = 0x5a5a;
		CU_ASSERT_EQUAL(kms_mp_get_uint(&cbs, &u), cases[i].r_uint);
		if (cases[i].r_uint == KMS_OK) {
			CU_ASSERT_EQUAL(u, cases[i].v_uint);
			CU_ASSERT_EQUAL(kms_cbs_len(&cbs), 0);
		} else {
			CU_ASSERT_EQUAL(u, 0x5a5a);
			CU_ASSERT(cbs.data == before.data && cbs.len == before.len);
		}
		kms_cbs_init(&cbs, buf, n);
		s = 0x5a5a;
		CU_ASSERT_EQUAL(kms_mp_get_int(&cbs, &s), cases[i].r_int);
		if (cases[i].r_int == KMS_OK) {
			CU_ASSERT_EQUAL(s, cases[i].v_int);
			CU_ASSERT_EQUAL(kms_cbs_len(&cbs), 0);
		} else {
			CU_ASSERT_EQUAL(s, 0x5a5a);
			CU_ASSERT(cbs.data == before.data && cbs.len == before.len);
		}
	}
}

/* str, bin, map and bool: canonical headers only; the cursor stays put on failure. */
static void
test_getters_other(void)
{
	uint8_t buf[300];
	struct kms_cbs cbs, sub = {NULL, 77};
	uint32_t count = 77;
	bool b = false;
	size_t n;

	n = kms_test_hex(buf, sizeof(buf), "a3 616263");
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_get_str(&cbs, &sub), KMS_OK);
	CU_ASSERT(sub.data == buf + 1 && sub.len == 3 && cbs.len == 0);

	n = kms_test_hex(buf, sizeof(buf), "d9 03 616263"); /* str8 for 3 bytes */
	kms_cbs_init(&cbs, buf, n);
	sub.data = NULL;
	sub.len = 77;
	CU_ASSERT_EQUAL(kms_mp_get_str(&cbs, &sub), KMS_ERR_PARSE);
	CU_ASSERT(sub.data == NULL && sub.len == 77 && cbs.len == n);
	CU_ASSERT_EQUAL(kms_mp_get_bin(&cbs, &sub), KMS_ERR_PARSE);

	buf[0] = 0xd9;
	buf[1] = 32;
	memset(buf + 2, 'x', 32);
	kms_cbs_init(&cbs, buf, 34);
	CU_ASSERT_EQUAL(kms_mp_get_str(&cbs, &sub), KMS_OK);
	CU_ASSERT_EQUAL(sub.len, 32);
	kms_cbs_init(&cbs, buf, 33);
	CU_ASSERT_EQUAL(kms_mp_get_str(&cbs, &sub), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(cbs.len, 33);

	n = kms_test_hex(buf, sizeof(buf), "a2 c3 28"); /* not UTF-8 */
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_get_str(&cbs, &sub), KMS_ERR_ENCODING);
	CU_ASSERT_EQUAL(cbs.len, n);

	n = kms_test_hex(buf, sizeof(buf), "c4 02 c3 28");
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_get_bin(&cbs, &sub), KMS_OK);
	CU_ASSERT(sub.len == 2 && sub.data == buf + 2);
	n = kms_test_hex(buf, sizeof(buf), "c5 0002 c3 28");
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_get_bin(&cbs, &sub), KMS_ERR_PARSE);
	n = kms_test_hex(buf, sizeof(buf), "c4 00");
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_get_bin(&cbs, &sub), KMS_OK);
	CU_ASSERT_EQUAL(sub.len, 0);

	n = kms_test_hex(buf, sizeof(buf), "8f");
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_get_map(&cbs, &count), KMS_OK);
	CU_ASSERT_EQUAL(count, 15);
	n = kms_test_hex(buf, sizeof(buf), "de 000f");
	kms_cbs_init(&cbs, buf, n);
	count = 77;
	CU_ASSERT_EQUAL(kms_mp_get_map(&cbs, &count), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(count, 77);
	n = kms_test_hex(buf, sizeof(buf), "de 0010");
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_get_map(&cbs, &count), KMS_OK);
	CU_ASSERT_EQUAL(count, 16);
	n = kms_test_hex(buf, sizeof(buf), "90");
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_get_map(&cbs, &count), KMS_ERR_PARSE);

	n = kms_test_hex(buf, sizeof(buf), "c3 c2 01");
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_get_bool(&cbs, &b), KMS_OK);
	CU_ASSERT_EQUAL(b, true);
	CU_ASSERT_EQUAL(kms_mp_get_bool(&cbs, &b), KMS_OK);
	CU_ASSERT_EQUAL(b, false);
	CU_ASSERT_EQUAL(kms_mp_get_bool(&cbs, &b), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(cbs.len, 1);
}

static void
test_skip(void)
{
	const struct kms_mp_limits lim = {2, 4, 8};
	uint8_t buf[64];
	struct kms_cbs cbs;
	size_t n;

	n = kms_test_hex(buf, sizeof(buf), "82 a1 61 92 01 02 a1 62 c4 01 ff 07");
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_skip(&cbs, &lim), KMS_OK);
	CU_ASSERT(cbs.data == buf + n - 1 && cbs.len == 1);
	CU_ASSERT_EQUAL(kms_mp_skip(&cbs, &lim), KMS_OK);
	CU_ASSERT_EQUAL(cbs.len, 0);
	CU_ASSERT_EQUAL(kms_mp_skip(&cbs, &lim), KMS_ERR_TRUNCATED);

	n = kms_test_hex(buf, sizeof(buf), "91 91 91 c0");
	kms_cbs_init(&cbs, buf, n);
	CU_ASSERT_EQUAL(kms_mp_skip(&cbs, &lim), KMS_ERR_TOO_LARGE);
	CU_ASSERT(cbs.data == buf && cbs.len == n);
}

/* ---------------------------------------------------------------------------------------- */
/* Messages                                                                                  */

/* Every sample encodes, decodes to an equal message, and re-encodes to the same bytes. */
static void
test_round_trip(void)
{
	static struct enc e, e2;
	size_t k;
	bool reply;

	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		CU_ASSERT(e.n > 0 && e.n <= KMS_MAX_IPC);
		CU_ASSERT_EQUAL_FATAL(dec(reply, e.b, e.n), KMS_OK);
		if (reply) {
			CU_ASSERT(kms_proto_reply_equal(&dec_rep_out,
							&rep_samples[k - num_req_samples].msg));
		} else {
			CU_ASSERT(kms_proto_request_equal(&dec_req_out, &req_samples[k].msg));
		}
		CU_ASSERT_EQUAL_FATAL(reenc(reply, &e2), KMS_OK);
		CU_ASSERT(e2.n == e.n && memcmp(e2.b, e.b, e.n) == 0);
		/* The other direction's decoder refuses it. */
		CU_ASSERT_EQUAL(dec(!reply, e.b, e.n), KMS_ERR_PARSE);
	}
}

/* Decoded values, field by field (independent of the table the library walks). */
static void
test_decoded_fields(void)
{
	static struct enc e;
	const struct kms_proto_request *q;
	const struct kms_proto_reply *p;
	size_t i;

	for (i = 0; i < num_req_samples; i++) {
		q = &req_samples[i].msg;
		enc_req(&e, i);
		CU_ASSERT_EQUAL_FATAL(dec(false, e.b, e.n), KMS_OK);
		CU_ASSERT_EQUAL(dec_req_out.op, q->op);
		CU_ASSERT_EQUAL(dec_req_out.id, q->id);
		if (q->op == KMS_PROTO_PROVISION) {
			const struct kms_proto_provision_req *a = &q->u.provision;
			const struct kms_proto_provision_req *b = &dec_req_out.u.provision;

			CU_ASSERT_EQUAL(b->client_id_len, a->client_id_len);
			CU_ASSERT_STRING_EQUAL(b->client_id, a->client_id);
			CU_ASSERT_EQUAL(b->identity_len, a->identity_len);
			CU_ASSERT_STRING_EQUAL(b->identity, a->identity);
			CU_ASSERT_EQUAL(b->key_period, a->key_period);
		} else if (q->op == KMS_PROTO_ROTATE_KEYS) {
			CU_ASSERT_EQUAL(dec_req_out.u.rotate_keys.client_id_len,
					q->u.rotate_keys.client_id_len);
			CU_ASSERT_STRING_EQUAL(dec_req_out.u.rotate_keys.client_id,
					       q->u.rotate_keys.client_id);
		} else if (q->op == KMS_PROTO_TLS_SIGN) {
			CU_ASSERT_EQUAL(dec_req_out.u.tls_sign.digest_len,
					q->u.tls_sign.digest_len);
			CU_ASSERT(memcmp(dec_req_out.u.tls_sign.digest, q->u.tls_sign.digest,
					 q->u.tls_sign.digest_len) == 0);
		} else if (q->op == KMS_PROTO_AUDIT_SIGN) {
			CU_ASSERT_EQUAL(dec_req_out.u.audit_sign.seq, q->u.audit_sign.seq);
			CU_ASSERT_EQUAL(dec_req_out.u.audit_sign.time_s, q->u.audit_sign.time_s);
			CU_ASSERT(memcmp(dec_req_out.u.audit_sign.hash, q->u.audit_sign.hash,
					 KMS_PROTO_AUDIT_HASH_LEN) == 0);
		} else if (q->op == KMS_PROTO_VERIFY) {
			const struct kms_proto_verify_req *a = &q->u.verify;
			const struct kms_proto_verify_req *b = &dec_req_out.u.verify;

			CU_ASSERT_EQUAL(b->client_id_len, a->client_id_len);
			CU_ASSERT_STRING_EQUAL(b->client_id, a->client_id);
			CU_ASSERT_EQUAL(b->key_id_len, a->key_id_len);
			CU_ASSERT_STRING_EQUAL(b->key_id, a->key_id);
			CU_ASSERT(b->signed_info_len == a->signed_info_len &&
				  memcmp(b->signed_info, a->signed_info, a->signed_info_len) == 0);
			CU_ASSERT(memcmp(b->signature, a->signature, KMS_PROTO_HMAC_LEN) == 0);
		} else if (q->op == KMS_PROTO_SIGN) {
			CU_ASSERT_EQUAL(dec_req_out.u.sign.client_id_len, q->u.sign.client_id_len);
			CU_ASSERT_STRING_EQUAL(dec_req_out.u.sign.client_id, q->u.sign.client_id);
			CU_ASSERT(memcmp(dec_req_out.u.sign.digest, q->u.sign.digest,
					 KMS_PROTO_DIGEST_LEN) == 0);
		}
	}
	for (i = 0; i < num_rep_samples; i++) {
		p = &rep_samples[i].msg;
		enc_rep(&e, i);
		CU_ASSERT_EQUAL_FATAL(dec(true, e.b, e.n), KMS_OK);
		CU_ASSERT_EQUAL(dec_rep_out.op, p->op);
		CU_ASSERT_EQUAL(dec_rep_out.id, p->id);
		CU_ASSERT_EQUAL(dec_rep_out.status, p->status);
		if (p->status != KMS_OK) {
			static const uint8_t zero[sizeof(dec_rep_out.u)];

			CU_ASSERT(memcmp(&dec_rep_out.u, zero, sizeof(zero)) == 0);
		} else if (p->op == KMS_PROTO_HEALTH) {
			CU_ASSERT_EQUAL(dec_rep_out.u.health.token_present,
					p->u.health.token_present);
			CU_ASSERT_EQUAL(dec_rep_out.u.health.issuer_len, p->u.health.issuer_len);
			CU_ASSERT_STRING_EQUAL(dec_rep_out.u.health.issuer, p->u.health.issuer);
		} else if (p->op == KMS_PROTO_PROVISION) {
			const struct kms_proto_provision_rep *a = &p->u.provision;
			const struct kms_proto_provision_rep *b = &dec_rep_out.u.provision;

			CU_ASSERT(b->key_period == a->key_period &&
				  b->period_start == a->period_start &&
				  b->period_end == a->period_end);
			CU_ASSERT_STRING_EQUAL(b->kms_uri, a->kms_uri);
			CU_ASSERT(memcmp(b->user_id, a->user_id, sizeof(a->user_id)) == 0);
			CU_ASSERT(b->rsk_wrapped_len == a->rsk_wrapped_len &&
				  memcmp(b->rsk_wrapped, a->rsk_wrapped, a->rsk_wrapped_len) == 0);
			CU_ASSERT(b->ssk_wrapped_len == a->ssk_wrapped_len &&
				  memcmp(b->ssk_wrapped, a->ssk_wrapped, a->ssk_wrapped_len) == 0);
			CU_ASSERT(b->pvt_wrapped_len == a->pvt_wrapped_len &&
				  memcmp(b->pvt_wrapped, a->pvt_wrapped, a->pvt_wrapped_len) == 0);
			CU_ASSERT_STRING_EQUAL(b->trk_id, a->trk_id);
			CU_ASSERT(memcmp(b->hmac, a->hmac, sizeof(a->hmac)) == 0);
		} else if (p->op == KMS_PROTO_CERTIFICATE) {
			const struct kms_proto_certificate_rep *a = &p->u.certificate;
			const struct kms_proto_certificate_rep *b = &dec_rep_out.u.certificate;

			CU_ASSERT_STRING_EQUAL(b->kms_uri, a->kms_uri);
			CU_ASSERT_EQUAL(b->cert_uri_len, a->cert_uri_len);
			CU_ASSERT_STRING_EQUAL(b->cert_uri, a->cert_uri);
			CU_ASSERT(memcmp(b->kpak, a->kpak, sizeof(a->kpak)) == 0);
			CU_ASSERT(memcmp(b->z_t, a->z_t, sizeof(a->z_t)) == 0);
			CU_ASSERT(b->user_key_period == a->user_key_period &&
				  b->user_key_offset == a->user_key_offset &&
				  b->parameter_set == a->parameter_set);
		} else if (p->op == KMS_PROTO_TLS_SIGN) {
			CU_ASSERT(memcmp(dec_rep_out.u.tls_sign.signature, p->u.tls_sign.signature,
					 KMS_PROTO_TLS_SIG_LEN) == 0);
		} else if (p->op == KMS_PROTO_AUDIT_SIGN) {
			CU_ASSERT(memcmp(dec_rep_out.u.audit_sign.signature,
					 p->u.audit_sign.signature, KMS_PROTO_AUDIT_SIG_LEN) == 0);
		} else if (p->op == KMS_PROTO_VERIFY) {
			CU_ASSERT_EQUAL(dec_rep_out.u.verify.rotated, p->u.verify.rotated);
		} else if (p->op == KMS_PROTO_SIGN) {
			CU_ASSERT(memcmp(dec_rep_out.u.sign.signature, p->u.sign.signature,
					 KMS_PROTO_HMAC_LEN) == 0);
			CU_ASSERT_EQUAL(dec_rep_out.u.sign.key_id_len, p->u.sign.key_id_len);
			CU_ASSERT_STRING_EQUAL(dec_rep_out.u.sign.key_id, p->u.sign.key_id);
		} else {
			const struct kms_proto_rotate_keys_rep *a = &p->u.rotate_keys;
			const struct kms_proto_rotate_keys_rep *b = &dec_rep_out.u.rotate_keys;

			CU_ASSERT(b->new_trk_wrapped_len == a->new_trk_wrapped_len &&
				  memcmp(b->new_trk_wrapped, a->new_trk_wrapped,
					 a->new_trk_wrapped_len) == 0);
			CU_ASSERT(b->new_ink_wrapped_len == a->new_ink_wrapped_len &&
				  memcmp(b->new_ink_wrapped, a->new_ink_wrapped,
					 a->new_ink_wrapped_len) == 0);
			CU_ASSERT_STRING_EQUAL(b->new_trk_id, a->new_trk_id);
			CU_ASSERT_STRING_EQUAL(b->new_ink_id, a->new_ink_id);
		}
	}
}

/* The bytes on the wire, fixed: a change here is a protocol change (docs/protocol.md). */
static void
test_golden(void)
{
	static struct enc e;
	struct kms_proto_request q;
	struct kms_proto_reply p;
	uint8_t want[128];
	size_t n, i;

	memset(&q, 0, sizeof(q));
	q.op = KMS_PROTO_HEALTH;
	q.id = 7;
	CU_ASSERT_EQUAL_FATAL(kms_proto_encode_request(e.b, sizeof(e.b), &e.n, &q), KMS_OK);
	n = kms_test_hex(want, sizeof(want), "82 a2 6f70 01 a2 6964 07");
	CU_ASSERT(e.n == n && memcmp(e.b, want, n) == 0);

	q.op = KMS_PROTO_ROTATE_KEYS;
	q.id = 0x10000;
	set_str(q.u.rotate_keys.client_id, &q.u.rotate_keys.client_id_len, "c");
	CU_ASSERT_EQUAL_FATAL(kms_proto_encode_request(e.b, sizeof(e.b), &e.n, &q), KMS_OK);
	n = kms_test_hex(want, sizeof(want),
			 "83 a2 6f70 04 a2 6964 ce 00010000 a9 636c69656e745f6964 a1 63");
	CU_ASSERT(e.n == n && memcmp(e.b, want, n) == 0);

	memset(&p, 0, sizeof(p));
	p.op = KMS_PROTO_PROVISION;
	p.id = 0x01020304;
	p.status = KMS_ERR_FORBIDDEN; /* -41: int8 */
	CU_ASSERT_EQUAL_FATAL(kms_proto_encode_reply(e.b, sizeof(e.b), &e.n, &p), KMS_OK);
	n = kms_test_hex(want, sizeof(want),
			 "83 a2 6f70 02 a2 6964 ce 01020304 a6 737461747573 d0 d7");
	CU_ASSERT(e.n == n && memcmp(e.b, want, n) == 0);

	p.op = KMS_PROTO_HEALTH;
	p.id = 255;
	p.status = KMS_OK;
	p.u.health.token_present = true;
	set_str(p.u.health.issuer, &p.u.health.issuer_len, "K");
	CU_ASSERT_EQUAL_FATAL(kms_proto_encode_reply(e.b, sizeof(e.b), &e.n, &p), KMS_OK);
	n = kms_test_hex(want, sizeof(want),
			 "85 a2 6f70 01 a2 6964 cc ff a6 737461747573 00"
			 "ad 746f6b656e5f70726573656e74 c3 a6 697373756572 a1 4b");
	CU_ASSERT(e.n == n && memcmp(e.b, want, n) == 0);

	/* SIGN, request and reply (the request is the example of docs/protocol.md) */
	memset(&q, 0, sizeof(q));
	q.op = KMS_PROTO_SIGN;
	q.id = 2;
	set_str(q.u.sign.client_id, &q.u.sign.client_id_len, "alice");
	for (i = 0; i < KMS_PROTO_DIGEST_LEN; i++) {
		q.u.sign.digest[i] = (uint8_t)i;
	}
	CU_ASSERT_EQUAL_FATAL(kms_proto_encode_request(e.b, sizeof(e.b), &e.n, &q), KMS_OK);
	n = kms_test_hex(want, sizeof(want),
			 "84 a2 6f70 05 a2 6964 02 a9 636c69656e745f6964 a5 616c696365"
			 "a6 646967657374 c4 20 000102030405060708090a0b0c0d0e0f"
			 "101112131415161718191a1b1c1d1e1f");
	CU_ASSERT(n == 66 && e.n == n && memcmp(e.b, want, n) == 0);

	memset(&p, 0, sizeof(p));
	p.op = KMS_PROTO_SIGN;
	p.id = 2;
	p.status = KMS_OK;
	memset(p.u.sign.signature, 0xab, sizeof(p.u.sign.signature));
	set_str(p.u.sign.key_id, &p.u.sign.key_id_len, "ik.0.alice");
	CU_ASSERT_EQUAL_FATAL(kms_proto_encode_reply(e.b, sizeof(e.b), &e.n, &p), KMS_OK);
	n = kms_test_hex(want, sizeof(want),
			 "85 a2 6f70 05 a2 6964 02 a6 737461747573 00"
			 "a9 7369676e6174757265 c4 20 abababababababababababababababab"
			 "abababababababababababababababab"
			 "a6 6b65795f6964 aa 696b2e302e616c696365");
	CU_ASSERT(e.n == n && memcmp(e.b, want, n) == 0);

	/* TLS_SIGN, request and reply (the request is the example of docs/protocol.md) */
	memset(&q, 0, sizeof(q));
	q.op = KMS_PROTO_TLS_SIGN;
	q.id = 3;
	q.u.tls_sign.digest_len = 32;
	for (i = 0; i < 32; i++) {
		q.u.tls_sign.digest[i] = (uint8_t)i;
	}
	CU_ASSERT_EQUAL_FATAL(kms_proto_encode_request(e.b, sizeof(e.b), &e.n, &q), KMS_OK);
	n = kms_test_hex(want, sizeof(want),
			 "83 a2 6f70 06 a2 6964 03 a6 646967657374 c4 20"
			 "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f");
	CU_ASSERT(n == 50 && e.n == n && memcmp(e.b, want, n) == 0);

	memset(&p, 0, sizeof(p));
	p.op = KMS_PROTO_TLS_SIGN;
	p.id = 3;
	p.status = KMS_OK;
	memset(p.u.tls_sign.signature, 0xcd, KMS_PROTO_TLS_SIG_LEN);
	CU_ASSERT_EQUAL_FATAL(kms_proto_encode_reply(e.b, sizeof(e.b), &e.n, &p), KMS_OK);
	n = kms_test_hex(want, sizeof(want),
			 "84 a2 6f70 06 a2 6964 03 a6 737461747573 00 a9 7369676e6174757265 c4 40"
			 "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
			 "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd");
	CU_ASSERT(n == 93 && e.n == n && memcmp(e.b, want, n) == 0);
}

/* Every status code there is, in an error reply of every operation. */
static void
test_every_status(void)
{
	static struct enc e;
	struct kms_proto_reply p;
	int code, op, known = 0;

	for (op = KMS_PROTO_HEALTH; op <= KMS_PROTO_OP_MAX; op++) {
		for (code = -120; code <= 20; code++) {
			memset(&p, 0, sizeof(p));
			p.op = (enum kms_proto_op)op;
			p.id = (uint32_t)(code + 1000);
			p.status = code;
			if (code == KMS_OK) {
				continue; /* the samples have those */
			}
			if (kms_err_name(code) == NULL) {
				CU_ASSERT_EQUAL(kms_proto_encode_reply(e.b, sizeof(e.b), &e.n, &p),
						KMS_ERR_INVALID_ARG);
				continue;
			}
			known++;
			CU_ASSERT_EQUAL_FATAL(kms_proto_encode_reply(e.b, sizeof(e.b), &e.n, &p),
					      KMS_OK);
			CU_ASSERT_EQUAL(dec(true, e.b, e.n), KMS_OK);
			CU_ASSERT(kms_proto_reply_equal(&dec_rep_out, &p));
		}
	}
	CU_ASSERT(known >= 4 * 20);
}

/* Every proper prefix of every message is refused as truncated, with the output untouched. */
static void
test_truncation(void)
{
	static struct enc e;
	size_t k, n;
	bool reply;
	unsigned int bad;

	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		bad = 0;
		for (n = 0; n < e.n; n++) {
			if (dec(reply, e.b, n) != KMS_ERR_TRUNCATED) {
				bad++;
			}
		}
		CU_ASSERT_EQUAL(bad, 0);
		CU_ASSERT_EQUAL(dec(reply, NULL, 0), KMS_ERR_TRUNCATED);
	}
}

/*
 * Every single-bit flip of every message: the decoder never crashes (ASan, UBSan), and either
 * refuses the result, untouched, or decodes a message that encodes back to the same bytes.
 */
static void
test_bit_flips(void)
{
	static struct enc e, e2;
	size_t k, i, bit;
	unsigned int bad, accepted;
	bool reply;

	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		bad = accepted = 0;
		for (i = 0; i < e.n; i++) {
			for (bit = 0; bit < 8; bit++) {
				e.b[i] ^= (uint8_t)(1u << bit);
				if (dec(reply, e.b, e.n) == KMS_OK) {
					accepted++;
					if (reenc(reply, &e2) != KMS_OK || e2.n != e.n ||
					    memcmp(e2.b, e.b, e.n) != 0) {
						bad++;
					}
				}
				e.b[i] ^= (uint8_t)(1u << bit);
			}
		}
		if (bad != 0) {
			fprintf(stderr, "bit flips of %s: %u accepted, %u do not re-encode\n",
				sample_name(k), accepted, bad);
		}
		CU_ASSERT_EQUAL(bad, 0);
	}
}

/* The pairs of a message's top-level map: where each starts and how long key + value are. */
struct pair_span {
	size_t off;
	size_t len;
	size_t key_len; /* the encoded key; the value follows */
};

static size_t
split_pairs(const struct enc *e, struct pair_span *out, size_t cap)
{
	const struct kms_mp_limits lim = KMS_PROTO_LIMITS;
	struct kms_cbs cbs, key;
	uint32_t count = 0, i;
	size_t start, after_key;

	kms_cbs_init(&cbs, e->b, e->n);
	CU_ASSERT_EQUAL_FATAL(kms_mp_get_map(&cbs, &count), KMS_OK);
	CU_ASSERT_FATAL(count <= cap);
	for (i = 0; i < count; i++) {
		start = e->n - kms_cbs_len(&cbs);
		CU_ASSERT_EQUAL_FATAL(kms_mp_get_str(&cbs, &key), KMS_OK);
		after_key = e->n - kms_cbs_len(&cbs);
		CU_ASSERT_EQUAL_FATAL(kms_mp_skip(&cbs, &lim), KMS_OK);
		out[i].off = start;
		out[i].key_len = after_key - start;
		out[i].len = e->n - kms_cbs_len(&cbs) - start;
	}
	return count;
}

/* A message under construction, from pieces of another. */
static void
put(struct enc *w, const void *p, size_t n)
{
	CU_ASSERT_FATAL(n <= sizeof(w->b) - w->n);
	memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void
put_map(struct enc *w, size_t count)
{
	uint8_t h[3] = {0xde, 0, (uint8_t)count};

	if (count < 16) {
		h[0] = (uint8_t)(0x80 | count);
		put(w, h, 1);
	} else {
		put(w, h, 3);
	}
}

static void
put_pair(struct enc *w, const struct enc *e, const struct pair_span *p)
{
	put(w, e->b + p->off, p->len);
}

static void
put_hex(struct enc *w, const char *hex)
{
	uint8_t buf[64];
	size_t n = kms_test_hex(buf, sizeof(buf), hex);

	put(w, buf, n);
}

/* Every key is required: leaving out any one pair is refused. */
static void
test_missing_keys(void)
{
	static struct enc e, w;
	struct pair_span pairs[KMS_PROTO_MAX_KEYS];
	size_t k, n, i, j;
	bool reply;

	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		n = split_pairs(&e, pairs, NUM(pairs));
		for (i = 0; i < n; i++) {
			w.n = 0;
			put_map(&w, n - 1);
			for (j = 0; j < n; j++) {
				if (j != i) {
					put_pair(&w, &e, &pairs[j]);
				}
			}
			CU_ASSERT_EQUAL(dec(reply, w.b, w.n), KMS_ERR_PARSE);
		}
	}
}

/* Keys may come in any order: the reversed map decodes to the same message. */
static void
test_key_order(void)
{
	static struct enc e, w;
	struct pair_span pairs[KMS_PROTO_MAX_KEYS];
	size_t k, n, i;
	bool reply;

	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		n = split_pairs(&e, pairs, NUM(pairs));
		w.n = 0;
		put_map(&w, n);
		for (i = n; i-- > 0;) {
			put_pair(&w, &e, &pairs[i]);
		}
		CU_ASSERT_EQUAL_FATAL(dec(reply, w.b, w.n), KMS_OK);
		if (reply) {
			CU_ASSERT(kms_proto_reply_equal(&dec_rep_out,
							&rep_samples[k - num_req_samples].msg));
		} else {
			CU_ASSERT(kms_proto_request_equal(&dec_req_out, &req_samples[k].msg));
		}
	}
}

/* Any pair twice, even with the same value, is refused. */
static void
test_duplicate_keys(void)
{
	static struct enc e, w;
	struct pair_span pairs[KMS_PROTO_MAX_KEYS];
	size_t k, n, i, j;
	bool reply;

	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		n = split_pairs(&e, pairs, NUM(pairs));
		for (i = 0; i < n; i++) {
			w.n = 0;
			put_map(&w, n + 1);
			for (j = 0; j < n; j++) {
				put_pair(&w, &e, &pairs[j]);
			}
			put_pair(&w, &e, &pairs[i]);
			CU_ASSERT_EQUAL(dec(reply, w.b, w.n), KMS_ERR_PARSE);
		}
	}
}

/*
 * A key the message does not have is refused: made-up keys, keys of other operations, the
 * reply's keys in a request, results in an error reply, near misses ("op\0", "Op").
 */
static void
test_unknown_keys(void)
{
	static const char *const extra[] = {
		"a1 78 00",                         /* "x": 0 */
		"a0 00",                            /* "": 0 */
		"a3 6f7000 01",                     /* "op\0": 1 */
		"a2 4f70 01",                       /* "Op": 1 */
		"a6 737461747573 00",               /* "status": 0 */
		"a9 636c69656e745f6964 a1 78",      /* "client_id": "x" */
		"a8 6964656e74697479 a1 78",        /* "identity": "x" */
		"aa 6b65795f706572696f64 00",       /* "key_period": 0 */
		"ad 746f6b656e5f70726573656e74 c3", /* "token_present": true */
		"a6 697373756572 a0",               /* "issuer": "" */
		"a7 6b6d735f757269 a1 78",          /* "kms_uri": "x" */
		"a4 686d6163 c4 01 00",             /* "hmac": bin */
		"ad 706172616d657465725f736574 01", /* "parameter_set": 1 */
		"aa 6e65775f696e6b5f6964 a1 78",    /* "new_ink_id": "x" */
		"a6 646967657374 c4 01 00",         /* "digest": bin */
		"a9 7369676e6174757265 c4 01 00",   /* "signature": bin */
		"a6 6b65795f6964 a1 78",            /* "key_id": "x" */
		"01 00",                            /* 1: 0, a key that is not a str */
	};
	static struct enc e, w;
	struct pair_span pairs[KMS_PROTO_MAX_KEYS];
	size_t k, n, i, j;
	bool reply;

	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		n = split_pairs(&e, pairs, NUM(pairs));
		for (i = 0; i < NUM(extra); i++) {
			/* first and last: the decoder must not depend on where "op" is */
			w.n = 0;
			put_map(&w, n + 1);
			put_hex(&w, extra[i]);
			for (j = 0; j < n; j++) {
				put_pair(&w, &e, &pairs[j]);
			}
			CU_ASSERT_EQUAL(dec(reply, w.b, w.n), KMS_ERR_PARSE);
			w.n = 0;
			put_map(&w, n + 1);
			for (j = 0; j < n; j++) {
				put_pair(&w, &e, &pairs[j]);
			}
			put_hex(&w, extra[i]);
			CU_ASSERT_EQUAL(dec(reply, w.b, w.n), KMS_ERR_PARSE);
		}
	}
}

/*
 * A value of the wrong type, in every pair of every message: nil anywhere; a str for an
 * integer or a bool; a bin for a str; a str for a bin; an integer for a bool.
 */
static void
test_wrong_types(void)
{
	static struct enc e, w;
	struct pair_span pairs[KMS_PROTO_MAX_KEYS];
	size_t k, n, i, j, rep;
	uint8_t tag, val[KMS_PROTO_MAX_URI + 8];
	size_t val_len;
	struct kms_cbs cbs, body;
	bool reply;

	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		n = split_pairs(&e, pairs, NUM(pairs));
		for (i = 0; i < n; i++) {
			tag = e.b[pairs[i].off + pairs[i].key_len];
			for (rep = 0; rep < 2; rep++) {
				if (rep == 0) {
					val[0] = 0xc0; /* nil */
					val_len = 1;
				} else if (tag <= 0x7f || tag >= 0xe0 ||
					   (tag >= 0xcc && tag <= 0xd3)) {
					val[0] = 0xa1; /* "1" for an integer */
					val[1] = '1';
					val_len = 2;
				} else if (tag == 0xc2 || tag == 0xc3) {
					val[0] = 0x01; /* 1 for a bool */
					val_len = 1;
				} else if ((tag >= 0xa0 && tag <= 0xbf) || tag == 0xd9 ||
					   tag == 0xda) {
					/* the same bytes as a bin */
					kms_cbs_init(&cbs, e.b + pairs[i].off + pairs[i].key_len,
						     pairs[i].len - pairs[i].key_len);
					CU_ASSERT_EQUAL_FATAL(kms_mp_get_str(&cbs, &body), KMS_OK);
					val[0] = 0xc5;
					val[1] = (uint8_t)(body.len >> 8);
					val[2] = (uint8_t)body.len;
					memcpy(val + 3, body.data, body.len);
					val_len = 3 + body.len;
					if (body.len < 256) {
						val[1] = (uint8_t)body.len;
						memmove(val + 2, val + 3, body.len);
						val[0] = 0xc4;
						val_len--;
					}
				} else {
					val[0] = 0xa1; /* "x" for a bin */
					val[1] = 'x';
					val_len = 2;
				}
				w.n = 0;
				put_map(&w, n);
				for (j = 0; j < n; j++) {
					if (j == i) {
						put(&w, e.b + pairs[j].off, pairs[j].key_len);
						put(&w, val, val_len);
					} else {
						put_pair(&w, &e, &pairs[j]);
					}
				}
				CU_ASSERT_EQUAL(dec(reply, w.b, w.n), KMS_ERR_PARSE);
			}
		}
	}
}

/*
 * The same value in a longer encoding than the shortest, in every pair: refused, so that what
 * decodes re-encodes to the same bytes. Also the map header as a map16.
 */
static void
test_non_canonical(void)
{
	static struct enc e, w;
	struct pair_span pairs[KMS_PROTO_MAX_KEYS];
	size_t k, n, i, j, vlen, widened;
	const uint8_t *v;
	uint8_t val[KMS_PROTO_MAX_URI + 8];
	size_t val_len;
	uint64_t u;
	int64_t s;
	struct kms_cbs cbs, body;
	bool reply;

	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		n = split_pairs(&e, pairs, NUM(pairs));
		widened = 0;
		for (i = 0; i < n; i++) {
			v = e.b + pairs[i].off + pairs[i].key_len;
			vlen = pairs[i].len - pairs[i].key_len;
			kms_cbs_init(&cbs, v, vlen);
			if (v[0] != 0xcf && kms_mp_get_uint(&cbs, &u) == KMS_OK) {
				val[0] = 0xcf; /* as a uint64 */
				for (j = 0; j < 8; j++) {
					val[1 + j] = (uint8_t)(u >> (56 - 8 * j));
				}
				val_len = 9;
			} else if (v[0] != 0xcf && v[0] != 0xd3 &&
				   kms_mp_get_int(&cbs, &s) == KMS_OK) {
				val[0] = 0xd3; /* as an int64 */
				for (j = 0; j < 8; j++) {
					val[1 + j] = (uint8_t)((uint64_t)s >> (56 - 8 * j));
				}
				val_len = 9;
			} else if (kms_mp_get_str(&cbs, &body) == KMS_OK ||
				   kms_mp_get_bin(&cbs, &body) == KMS_OK) {
				/* as a str32 or bin32 */
				val[0] = (v[0] >= 0xc4 && v[0] <= 0xc6) ? 0xc6 : 0xdb;
				val[1] = val[2] = 0;
				val[3] = (uint8_t)(body.len >> 8);
				val[4] = (uint8_t)body.len;
				memcpy(val + 5, body.data, body.len);
				val_len = 5 + body.len;
			} else {
				continue; /* a bool has one form, and so has a uint64 or int64 */
			}
			widened++;
			w.n = 0;
			put_map(&w, n);
			for (j = 0; j < n; j++) {
				if (j == i) {
					put(&w, e.b + pairs[j].off, pairs[j].key_len);
					put(&w, val, val_len);
				} else {
					put_pair(&w, &e, &pairs[j]);
				}
			}
			CU_ASSERT_EQUAL(dec(reply, w.b, w.n), KMS_ERR_PARSE);
		}
		CU_ASSERT(widened >= 2); /* op and id at least */
		/* the map header as a map16 */
		w.n = 0;
		put_hex(&w, "de 00");
		val[0] = (uint8_t)n;
		put(&w, val, 1);
		put(&w, e.b + 1, e.n - 1);
		CU_ASSERT_EQUAL(dec(reply, w.b, w.n), KMS_ERR_PARSE);
	}
}

/* Anything after the map is refused: a byte, or a second message. */
static void
test_trailing(void)
{
	static struct enc e, w;
	size_t k;
	bool reply;

	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		w.n = 0;
		put(&w, e.b, e.n);
		put_hex(&w, "c0");
		CU_ASSERT_EQUAL(dec(reply, w.b, w.n), KMS_ERR_TRAILING);
		w.n = 0;
		put(&w, e.b, e.n);
		put(&w, e.b, e.n);
		CU_ASSERT_EQUAL(dec(reply, w.b, w.n), KMS_ERR_TRAILING);
	}
}

/* Not a map at all; a map that is empty. */
static void
test_not_a_map(void)
{
	static const char *const bad[] = {"c0", "00", "a2 6f70", "c4 00", "92 01 02", "c3", "80"};
	uint8_t buf[16];
	size_t i, n;

	for (i = 0; i < NUM(bad); i++) {
		n = kms_test_hex(buf, sizeof(buf), bad[i]);
		CU_ASSERT_EQUAL(dec(false, buf, n), KMS_ERR_PARSE);
		CU_ASSERT_EQUAL(dec(true, buf, n), KMS_ERR_PARSE);
	}
}

/* A message built with msgpack-c's packer, decoded as a request or a reply. */
struct builder {
	msgpack_sbuffer sbuf;
	msgpack_packer pk;
};

static void
b_init(struct builder *b, size_t num_pairs)
{
	msgpack_sbuffer_init(&b->sbuf);
	msgpack_packer_init(&b->pk, &b->sbuf, msgpack_sbuffer_write);
	CU_ASSERT_FATAL(msgpack_pack_map(&b->pk, num_pairs) == 0);
}

static void
b_key(struct builder *b, const char *key)
{
	CU_ASSERT_FATAL(msgpack_pack_str_with_body(&b->pk, key, strlen(key)) == 0);
}

static void
b_uint(struct builder *b, const char *key, uint64_t v)
{
	b_key(b, key);
	CU_ASSERT_FATAL(msgpack_pack_uint64(&b->pk, v) == 0);
}

static void
b_int(struct builder *b, const char *key, int64_t v)
{
	b_key(b, key);
	CU_ASSERT_FATAL(msgpack_pack_int64(&b->pk, v) == 0);
}

static void
b_bool(struct builder *b, const char *key, bool v)
{
	b_key(b, key);
	CU_ASSERT_FATAL((v ? msgpack_pack_true(&b->pk) : msgpack_pack_false(&b->pk)) == 0);
}

static void
b_str(struct builder *b, const char *key, const void *s, size_t n)
{
	b_key(b, key);
	CU_ASSERT_FATAL(msgpack_pack_str_with_body(&b->pk, s, n) == 0);
}

static void
b_bin(struct builder *b, const char *key, const void *s, size_t n)
{
	b_key(b, key);
	CU_ASSERT_FATAL(msgpack_pack_bin_with_body(&b->pk, s, n) == 0);
}

/* Decode, then free the builder. */
static int
b_dec(struct builder *b, bool reply)
{
	int r = dec(reply, (const uint8_t *)b->sbuf.data, b->sbuf.size);

	msgpack_sbuffer_destroy(&b->sbuf);
	return r;
}

/* A PROVISION request with the given client id and identity. */
static int
provision_req(const void *client, size_t client_len, const void *identity, size_t identity_len,
	      uint64_t period)
{
	struct builder b;

	b_init(&b, 6);
	b_uint(&b, "op", KMS_PROTO_PROVISION);
	b_uint(&b, "id", 1);
	b_str(&b, "client_id", client, client_len);
	b_str(&b, "identity", identity, identity_len);
	b_uint(&b, "key_period", period);
	b_bool(&b, "no_plain", false);
	return b_dec(&b, false);
}

/* Header values: op, id and status out of range. */
static void
test_header_ranges(void)
{
	static const uint64_t bad_ops[] = {0, KMS_PROTO_OP_MAX + 1, 255, 1ULL << 32, UINT64_MAX};
	static const int64_t bad_status[] = {1, 127, 128, -100, -128, INT32_MIN, INT64_MIN};
	struct builder b;
	size_t i, unassigned = 0;
	int64_t s;

	for (i = 0; i < NUM(bad_ops); i++) {
		b_init(&b, 2);
		b_uint(&b, "op", bad_ops[i]);
		b_uint(&b, "id", 1);
		CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_RANGE);
		b_init(&b, 3);
		b_uint(&b, "op", bad_ops[i]);
		b_uint(&b, "id", 1);
		b_int(&b, "status", KMS_ERR_INTERNAL);
		CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_RANGE);
	}
	b_init(&b, 2);
	b_int(&b, "op", -1);
	b_uint(&b, "id", 1);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_RANGE);

	b_init(&b, 2);
	b_uint(&b, "op", KMS_PROTO_HEALTH);
	b_uint(&b, "id", UINT32_MAX);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_OK);
	b_init(&b, 2);
	b_uint(&b, "op", KMS_PROTO_HEALTH);
	b_uint(&b, "id", (uint64_t)UINT32_MAX + 1);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_RANGE);
	b_init(&b, 2);
	b_uint(&b, "op", KMS_PROTO_HEALTH);
	b_int(&b, "id", -1);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_RANGE);

	for (i = 0; i < NUM(bad_status); i++) {
		b_init(&b, 3);
		b_uint(&b, "op", KMS_PROTO_CERTIFICATE);
		b_uint(&b, "id", 1);
		b_int(&b, "status", bad_status[i]);
		CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_RANGE);
	}
	/* inside the bands, the numbers err.h does not (yet) name */
	for (s = -99; s < 0; s++) {
		if (kms_err_name((int)s) != NULL) {
			continue;
		}
		unassigned++;
		b_init(&b, 3);
		b_uint(&b, "op", KMS_PROTO_CERTIFICATE);
		b_uint(&b, "id", 1);
		b_int(&b, "status", s);
		CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_RANGE);
	}
	CU_ASSERT(unassigned > 0);
	b_init(&b, 3);
	b_uint(&b, "op", KMS_PROTO_CERTIFICATE);
	b_uint(&b, "id", 1);
	b_uint(&b, "status", UINT64_MAX);
	CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_RANGE);
	b_init(&b, 3);
	b_uint(&b, "op", KMS_PROTO_CERTIFICATE);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_ERR_HSM);
	CU_ASSERT_EQUAL(b_dec(&b, true), KMS_OK);
}

/* Lengths and character sets of str fields, on the way in. */
static void
test_field_bounds(void)
{
	static char s[KMS_PROTO_MAX_URI + 2];
	static const char *const bad_client[] = {"a b",      "a\tb", "a\x7f",
						 "\xc3\xa9", "a\nb", "\x01"};
	size_t i;

	memset(s, 'a', sizeof(s));
	CU_ASSERT_EQUAL(provision_req(s, 1, s, 1, 0), KMS_OK);
	CU_ASSERT_EQUAL(provision_req(s, KMS_PROTO_MAX_CLIENT_ID, s, KMS_PROTO_MAX_URI, UINT64_MAX),
			KMS_OK);
	CU_ASSERT_EQUAL(provision_req(s, 0, s, 1, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(provision_req(s, 1, s, 0, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(provision_req(s, KMS_PROTO_MAX_CLIENT_ID + 1, s, 1, 0), KMS_ERR_RANGE);
	/* over the longest field of any message: refused by the pre-scan */
	CU_ASSERT_EQUAL(provision_req(s, 1, s, KMS_PROTO_MAX_URI + 1, 0), KMS_ERR_TOO_LARGE);
	for (i = 0; i < NUM(bad_client); i++) {
		CU_ASSERT_EQUAL(provision_req(bad_client[i], strlen(bad_client[i]), s, 1, 0),
				KMS_ERR_PARSE);
	}
	CU_ASSERT_EQUAL(provision_req("!~", 2, s, 1, 0), KMS_OK);
	/* identity: any UTF-8 but NUL */
	CU_ASSERT_EQUAL(provision_req(s, 1, "sip:\xc3\xa9t\xc3\xa9 x", 11, 0), KMS_OK);
	CU_ASSERT_EQUAL(provision_req(s, 1, "sip:a\0b", 7, 0), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(provision_req(s, 1, "\0", 1, 0), KMS_ERR_PARSE);
	CU_ASSERT_EQUAL(provision_req(s, 1, "sip:\xc3", 5, 0), KMS_ERR_ENCODING);
	CU_ASSERT_EQUAL(provision_req(s, 1, "sip:\xed\xa0\x80", 7, 0), KMS_ERR_ENCODING);
	/* invalid UTF-8 in a key */
	{
		struct builder b;

		b_init(&b, 2);
		b_uint(&b, "op", KMS_PROTO_HEALTH);
		b_uint(&b, "id\xff", 1);
		CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_ENCODING);
	}
}

/* Result fields of replies: bin lengths, integer ranges, the period's order. */
static void
test_reply_bounds(void)
{
	static uint8_t bytes[KMS_PROTO_Z_T_LEN + 1];
	struct builder b;
	size_t i;
	struct {
		size_t kpak, z_t;
		uint64_t period, param;
		int want;
	} cert[] = {
		{KMS_PROTO_KPAK_LEN, KMS_PROTO_Z_T_LEN, 1, 1, KMS_OK},
		{KMS_PROTO_KPAK_LEN - 1, KMS_PROTO_Z_T_LEN, 1, 1, KMS_ERR_RANGE},
		{KMS_PROTO_KPAK_LEN + 1, KMS_PROTO_Z_T_LEN, 1, 1, KMS_ERR_RANGE},
		{KMS_PROTO_KPAK_LEN, KMS_PROTO_Z_T_LEN - 1, 1, 1, KMS_ERR_RANGE},
		{KMS_PROTO_KPAK_LEN, KMS_PROTO_Z_T_LEN + 1, 1, 1, KMS_ERR_RANGE},
		{KMS_PROTO_KPAK_LEN, KMS_PROTO_Z_T_LEN, 0, 1, KMS_ERR_RANGE},
		{KMS_PROTO_KPAK_LEN, KMS_PROTO_Z_T_LEN, 1, 0, KMS_ERR_RANGE},
		{KMS_PROTO_KPAK_LEN, KMS_PROTO_Z_T_LEN, 1, 2, KMS_ERR_RANGE},
		{KMS_PROTO_KPAK_LEN, KMS_PROTO_Z_T_LEN, 1, 256, KMS_ERR_RANGE},
	};
	struct {
		size_t uid, rsk, hmac;
		uint64_t start, end;
		int want;
		/* plain replies: the keys' lengths, the TrK id's, a hmac not zero */
		bool plain;
		size_t ssk, pvt, trk;
		bool hmac_set;
	} prov[] = {
		{32, 1, 32, 5, 5, KMS_OK, false, 1, 1, 1, false},
		{32, 512, 32, 0, UINT64_MAX, KMS_OK, false, 1, 1, 1, false},
		{32, 1, 32, 6, 5, KMS_ERR_RANGE, false, 1, 1, 1, false},
		{31, 1, 32, 0, 0, KMS_ERR_RANGE, false, 1, 1, 1, false},
		{33, 1, 32, 0, 0, KMS_ERR_RANGE, false, 1, 1, 1, false},
		{32, 0, 32, 0, 0, KMS_ERR_RANGE, false, 1, 1, 1, false},
		{32, 513, 32, 0, 0, KMS_ERR_RANGE, false, 1, 1, 1, false},
		{32, 1, 0, 0, 0, KMS_ERR_RANGE, false, 1, 1, 1, false},
		{32, 1, 64, 0, 0, KMS_ERR_RANGE, false, 1, 1, 1, false},
		/* a wrapped set names its TrK */
		{32, 1, 32, 0, 0, KMS_ERR_RANGE, false, 1, 1, 0, false},
		/* a plain set: exactly 257, 32 and 65 octets, no TrK, a zero hmac */
		{32, 257, 32, 0, 0, KMS_OK, true, 32, 65, 0, false},
		{32, 256, 32, 0, 0, KMS_ERR_RANGE, true, 32, 65, 0, false},
		{32, 264, 32, 0, 0, KMS_ERR_RANGE, true, 32, 65, 0, false},
		{32, 257, 32, 0, 0, KMS_ERR_RANGE, true, 40, 65, 0, false},
		{32, 257, 32, 0, 0, KMS_ERR_RANGE, true, 32, 72, 0, false},
		{32, 257, 32, 0, 0, KMS_ERR_RANGE, true, 32, 65, 1, false},
		{32, 257, 32, 0, 0, KMS_ERR_RANGE, true, 32, 65, 0, true},
	};

	memset(bytes, 0x04, sizeof(bytes));
	for (i = 0; i < NUM(cert); i++) {
		b_init(&b, 10);
		b_uint(&b, "op", KMS_PROTO_CERTIFICATE);
		b_uint(&b, "id", 1);
		b_int(&b, "status", KMS_OK);
		b_str(&b, "kms_uri", "k", 1);
		b_str(&b, "cert_uri", "", 0);
		b_bin(&b, "kpak", bytes, cert[i].kpak);
		b_bin(&b, "z_t", bytes, cert[i].z_t);
		b_uint(&b, "user_key_period", cert[i].period);
		b_uint(&b, "user_key_offset", UINT64_MAX);
		b_uint(&b, "parameter_set", cert[i].param);
		CU_ASSERT_EQUAL(b_dec(&b, true), cert[i].want);
	}
	{
		static uint8_t big[KMS_PROTO_MAX_WRAPPED + 1];

		for (i = 0; i < NUM(prov); i++) {
			b_init(&b, 14);
			b_uint(&b, "op", KMS_PROTO_PROVISION);
			b_uint(&b, "id", 1);
			b_int(&b, "status", KMS_OK);
			b_bool(&b, "plain", prov[i].plain);
			b_uint(&b, "key_period", 0);
			b_uint(&b, "period_start", prov[i].start);
			b_uint(&b, "period_end", prov[i].end);
			b_str(&b, "kms_uri", "k", 1);
			b_bin(&b, "user_id", big, prov[i].uid);
			b_bin(&b, "rsk_wrapped", big, prov[i].rsk);
			b_bin(&b, "ssk_wrapped", big, prov[i].ssk);
			b_bin(&b, "pvt_wrapped", big, prov[i].pvt);
			b_str(&b, "trk_id", "t", prov[i].trk);
			b_bin(&b, "hmac", prov[i].hmac_set ? bytes : big, prov[i].hmac);
			CU_ASSERT_EQUAL(b_dec(&b, true), prov[i].want);
		}
	}
	/* HEALTH: the flag is a bool, not 0/1 */
	b_init(&b, 5);
	b_uint(&b, "op", KMS_PROTO_HEALTH);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_OK);
	b_uint(&b, "token_present", 1);
	b_str(&b, "issuer", "", 0);
	CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_PARSE);
	/* an error reply carries no results */
	b_init(&b, 5);
	b_uint(&b, "op", KMS_PROTO_HEALTH);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_ERR_HSM);
	b_key(&b, "token_present");
	CU_ASSERT_FATAL(msgpack_pack_false(&b.pk) == 0);
	b_str(&b, "issuer", "", 0);
	CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_PARSE);
}

/* A SIGN request: client_id, then digest (as a bin of digest_len bytes), and extra pairs. */
static int
sign_req(const void *client, size_t client_len, const uint8_t *digest, size_t digest_len)
{
	struct builder b;

	b_init(&b, 4);
	b_uint(&b, "op", KMS_PROTO_SIGN);
	b_uint(&b, "id", 1);
	b_str(&b, "client_id", client, client_len);
	b_bin(&b, "digest", digest, digest_len);
	return b_dec(&b, false);
}

/* A SIGN reply with status 0: signature (a bin of sig_len bytes) and key_id. */
static int
sign_rep(const uint8_t *sig, size_t sig_len, const void *key_id, size_t key_id_len)
{
	struct builder b;

	b_init(&b, 5);
	b_uint(&b, "op", KMS_PROTO_SIGN);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_OK);
	b_bin(&b, "signature", sig, sig_len);
	b_str(&b, "key_id", key_id, key_id_len);
	return b_dec(&b, true);
}

/*
 * SIGN, both ways: the digest and the signature are exactly 32 bytes, client_id and key_id are
 * 1..255 visible ASCII; a missing field, a field of another operation, a wrong type are
 * refused; and what decodes is what was sent.
 */
static void
test_sign_bounds(void)
{
	static const char *const bad_ids[] = {"ik 0", "ik\t0", "ik\x7f",  "\xc3\xa9",
					      "a\nb", "\x01",  "ik.0\x00"};
	static uint8_t bytes[2 * KMS_PROTO_DIGEST_LEN];
	static char s[KMS_PROTO_MAX_KEY_ID + 2];
	struct builder b;
	size_t i;

	fill_bytes(bytes, sizeof(bytes), 3);
	memset(s, 'k', sizeof(s));
	/* the request's digest */
	CU_ASSERT_EQUAL(sign_req("alice", 5, bytes, KMS_PROTO_DIGEST_LEN), KMS_OK);
	CU_ASSERT_EQUAL(dec_req_out.op, KMS_PROTO_SIGN);
	CU_ASSERT_STRING_EQUAL(dec_req_out.u.sign.client_id, "alice");
	CU_ASSERT_EQUAL(dec_req_out.u.sign.client_id_len, 5);
	CU_ASSERT(memcmp(dec_req_out.u.sign.digest, bytes, KMS_PROTO_DIGEST_LEN) == 0);
	CU_ASSERT_EQUAL(sign_req("alice", 5, bytes, KMS_PROTO_DIGEST_LEN - 1), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(sign_req("alice", 5, bytes, KMS_PROTO_DIGEST_LEN + 1), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(sign_req("alice", 5, bytes, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(sign_req("alice", 5, bytes, 64), KMS_ERR_RANGE);
	/* the request's client_id */
	CU_ASSERT_EQUAL(sign_req(s, KMS_PROTO_MAX_CLIENT_ID, bytes, 32), KMS_OK);
	CU_ASSERT_EQUAL(sign_req(s, KMS_PROTO_MAX_CLIENT_ID + 1, bytes, 32), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(sign_req(s, 0, bytes, 32), KMS_ERR_RANGE);
	for (i = 0; i < NUM(bad_ids); i++) {
		CU_ASSERT_EQUAL(sign_req(bad_ids[i], strlen(bad_ids[i]) + (i == 6), bytes, 32),
				KMS_ERR_PARSE);
	}
	/* the digest as a str, the client_id as a bin */
	b_init(&b, 4);
	b_uint(&b, "op", KMS_PROTO_SIGN);
	b_uint(&b, "id", 1);
	b_str(&b, "client_id", "alice", 5);
	b_str(&b, "digest", s, KMS_PROTO_DIGEST_LEN);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_PARSE);
	b_init(&b, 4);
	b_uint(&b, "op", KMS_PROTO_SIGN);
	b_uint(&b, "id", 1);
	b_bin(&b, "client_id", "alice", 5);
	b_bin(&b, "digest", bytes, KMS_PROTO_DIGEST_LEN);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_PARSE);
	/* no digest; PROVISION's fields instead of SIGN's */
	b_init(&b, 3);
	b_uint(&b, "op", KMS_PROTO_SIGN);
	b_uint(&b, "id", 1);
	b_str(&b, "client_id", "alice", 5);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_PARSE);
	b_init(&b, 5);
	b_uint(&b, "op", KMS_PROTO_SIGN);
	b_uint(&b, "id", 1);
	b_str(&b, "client_id", "alice", 5);
	b_str(&b, "identity", "sip:alice@example.org", 21);
	b_uint(&b, "key_period", 1);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_PARSE);
	/* a SIGN request's fields under another op */
	b_init(&b, 4);
	b_uint(&b, "op", KMS_PROTO_ROTATE_KEYS);
	b_uint(&b, "id", 1);
	b_str(&b, "client_id", "alice", 5);
	b_bin(&b, "digest", bytes, KMS_PROTO_DIGEST_LEN);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_PARSE);

	/* the reply's signature */
	CU_ASSERT_EQUAL(sign_rep(bytes, KMS_PROTO_HMAC_LEN, "ik.0.alice", 10), KMS_OK);
	CU_ASSERT(memcmp(dec_rep_out.u.sign.signature, bytes, KMS_PROTO_HMAC_LEN) == 0);
	CU_ASSERT_STRING_EQUAL(dec_rep_out.u.sign.key_id, "ik.0.alice");
	CU_ASSERT_EQUAL(dec_rep_out.u.sign.key_id_len, 10);
	CU_ASSERT_EQUAL(sign_rep(bytes, KMS_PROTO_HMAC_LEN - 1, "k", 1), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(sign_rep(bytes, KMS_PROTO_HMAC_LEN + 1, "k", 1), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(sign_rep(bytes, 0, "k", 1), KMS_ERR_RANGE);
	/* the reply's key_id */
	CU_ASSERT_EQUAL(sign_rep(bytes, 32, s, KMS_PROTO_MAX_KEY_ID), KMS_OK);
	CU_ASSERT_EQUAL(sign_rep(bytes, 32, s, KMS_PROTO_MAX_KEY_ID + 1), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(sign_rep(bytes, 32, s, 0), KMS_ERR_RANGE);
	for (i = 0; i < NUM(bad_ids); i++) {
		CU_ASSERT_EQUAL(sign_rep(bytes, 32, bad_ids[i], strlen(bad_ids[i]) + (i == 6)),
				KMS_ERR_PARSE);
	}
	CU_ASSERT_EQUAL(sign_rep(bytes, 32, "ik.0.\xff", 6), KMS_ERR_ENCODING);
	/* the signature as a str; no key_id; a result of another operation */
	b_init(&b, 5);
	b_uint(&b, "op", KMS_PROTO_SIGN);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_OK);
	b_str(&b, "signature", s, KMS_PROTO_HMAC_LEN);
	b_str(&b, "key_id", "k", 1);
	CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_PARSE);
	b_init(&b, 4);
	b_uint(&b, "op", KMS_PROTO_SIGN);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_OK);
	b_bin(&b, "signature", bytes, KMS_PROTO_HMAC_LEN);
	CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_PARSE);
	b_init(&b, 5);
	b_uint(&b, "op", KMS_PROTO_SIGN);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_OK);
	b_bin(&b, "hmac", bytes, KMS_PROTO_HMAC_LEN);
	b_str(&b, "key_id", "k", 1);
	CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_PARSE);
	/* an error reply carries no signature */
	b_init(&b, 5);
	b_uint(&b, "op", KMS_PROTO_SIGN);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_ERR_FORBIDDEN);
	b_bin(&b, "signature", bytes, KMS_PROTO_HMAC_LEN);
	b_str(&b, "key_id", "k", 1);
	CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_PARSE);
}

static void refuse(bool reply, const void *msg, size_t cap, int want);

/* A TLS_SIGN request whose digest is a bin of n bytes. */
static int
tls_sign_req(const uint8_t *digest, size_t n)
{
	struct builder b;

	b_init(&b, 3);
	b_uint(&b, "op", KMS_PROTO_TLS_SIGN);
	b_uint(&b, "id", 1);
	b_bin(&b, "digest", digest, n);
	return b_dec(&b, false);
}

/* A TLS_SIGN reply with status 0 whose signature is a bin of n bytes. */
static int
tls_sign_rep(const uint8_t *sig, size_t n)
{
	struct builder b;

	b_init(&b, 4);
	b_uint(&b, "op", KMS_PROTO_TLS_SIGN);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_OK);
	b_bin(&b, "signature", sig, n);
	return b_dec(&b, true);
}

/* An AUDIT_SIGN request: seq, a hash bin of hash_len bytes, time_s (keys left out if skip). */
static int
audit_sign_req(uint64_t seq, size_t hash_len, uint64_t time_s, int skip)
{
	static uint8_t hash[KMS_PROTO_AUDIT_HASH_LEN + 1];
	struct builder b;

	fill_bytes(hash, sizeof(hash), 3);
	b_init(&b, skip ? 4u : 5u);
	b_uint(&b, "op", KMS_PROTO_AUDIT_SIGN);
	b_uint(&b, "id", 9);
	b_uint(&b, "seq", seq);
	b_bin(&b, "hash", hash, hash_len);
	if (!skip) {
		b_uint(&b, "time_s", time_s);
	}
	return b_dec(&b, false);
}

/*
 * AUDIT_SIGN, both ways: seq 1..INT64_MAX, time_s 0..INT64_MAX, the hash exactly 32 bytes, the
 * signature exactly 64; a missing field or one of another operation is refused.
 */
static void
test_audit_sign_bounds(void)
{
	static uint8_t sig[KMS_PROTO_AUDIT_SIG_LEN + 1];
	struct builder b;
	size_t n;

	CU_ASSERT_EQUAL(audit_sign_req(1, 32, 0, 0), KMS_OK);
	CU_ASSERT_EQUAL(dec_req_out.op, KMS_PROTO_AUDIT_SIGN);
	CU_ASSERT_EQUAL(dec_req_out.u.audit_sign.seq, 1);
	CU_ASSERT_EQUAL(dec_req_out.u.audit_sign.time_s, 0);
	CU_ASSERT_EQUAL(audit_sign_req(INT64_MAX, 32, INT64_MAX, 0), KMS_OK);
	CU_ASSERT_EQUAL(dec_req_out.u.audit_sign.seq, (uint64_t)INT64_MAX);
	CU_ASSERT_EQUAL(audit_sign_req(0, 32, 5, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(audit_sign_req((uint64_t)INT64_MAX + 1, 32, 5, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(audit_sign_req(7, 32, (uint64_t)INT64_MAX + 1, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(audit_sign_req(7, 32, UINT64_MAX, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(audit_sign_req(7, 31, 5, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(audit_sign_req(7, 33, 5, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(audit_sign_req(7, 0, 5, 0), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(audit_sign_req(7, 32, 5, 1), KMS_ERR_PARSE); /* no time_s */

	/* a TLS_SIGN field in an AUDIT_SIGN request */
	b_init(&b, 6);
	b_uint(&b, "op", KMS_PROTO_AUDIT_SIGN);
	b_uint(&b, "id", 9);
	b_uint(&b, "seq", 3);
	b_bin(&b, "hash", sig, 32);
	b_uint(&b, "time_s", 3);
	b_bin(&b, "digest", sig, 32);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_PARSE);
	/* seq as a str */
	b_init(&b, 5);
	b_uint(&b, "op", KMS_PROTO_AUDIT_SIGN);
	b_uint(&b, "id", 9);
	b_str(&b, "seq", "3", 1);
	b_bin(&b, "hash", sig, 32);
	b_uint(&b, "time_s", 3);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_PARSE);

	/* the reply's signature: exactly 64 bytes */
	fill_bytes(sig, sizeof(sig), 8);
	for (n = 0; n <= KMS_PROTO_AUDIT_SIG_LEN + 1; n++) {
		b_init(&b, 4);
		b_uint(&b, "op", KMS_PROTO_AUDIT_SIGN);
		b_uint(&b, "id", 1);
		b_int(&b, "status", KMS_OK);
		b_bin(&b, "signature", sig, n);
		CU_ASSERT_EQUAL(b_dec(&b, true),
				n == KMS_PROTO_AUDIT_SIG_LEN ? KMS_OK : KMS_ERR_RANGE);
		if (n == KMS_PROTO_AUDIT_SIG_LEN) {
			CU_ASSERT(memcmp(dec_rep_out.u.audit_sign.signature, sig,
					 KMS_PROTO_AUDIT_SIG_LEN) == 0);
		}
	}
	CU_ASSERT_STRING_EQUAL(kms_proto_op_name(KMS_PROTO_AUDIT_SIGN), "audit_sign");
}

/*
 * TLS_SIGN, both ways: the digest is 20..64 bytes, the signature exactly 64; a missing field, a
 * field of another operation, a wrong type are refused; and what decodes is what was sent.
 */
static void
test_tls_sign_bounds(void)
{
	static uint8_t bytes[KMS_PROTO_TLS_DIGEST_MAX + 2];
	struct kms_proto_request q;
	struct builder b;
	size_t n;

	fill_bytes(bytes, sizeof(bytes), 5);
	for (n = 0; n <= KMS_PROTO_TLS_DIGEST_MAX + 1; n++) {
		int want = n >= KMS_PROTO_TLS_DIGEST_MIN && n <= KMS_PROTO_TLS_DIGEST_MAX
				   ? KMS_OK
				   : KMS_ERR_RANGE;

		CU_ASSERT_EQUAL(tls_sign_req(bytes, n), want);
		if (want == KMS_OK) {
			CU_ASSERT_EQUAL(dec_req_out.op, KMS_PROTO_TLS_SIGN);
			CU_ASSERT_EQUAL(dec_req_out.u.tls_sign.digest_len, n);
			CU_ASSERT(memcmp(dec_req_out.u.tls_sign.digest, bytes, n) == 0);
		}
	}
	/* the digest as a str; no digest; another operation's field */
	b_init(&b, 3);
	b_uint(&b, "op", KMS_PROTO_TLS_SIGN);
	b_uint(&b, "id", 1);
	b_str(&b, "digest", "0123456789abcdefghijklmnopqrstuv", 32);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_PARSE);
	b_init(&b, 2);
	b_uint(&b, "op", KMS_PROTO_TLS_SIGN);
	b_uint(&b, "id", 1);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_PARSE);
	b_init(&b, 4);
	b_uint(&b, "op", KMS_PROTO_TLS_SIGN);
	b_uint(&b, "id", 1);
	b_str(&b, "client_id", "alice", 5);
	b_bin(&b, "digest", bytes, 32);
	CU_ASSERT_EQUAL(b_dec(&b, false), KMS_ERR_PARSE);
	/* the encoder refuses what the decoder would */
	memset(&q, 0, sizeof(q));
	q.op = KMS_PROTO_TLS_SIGN;
	q.u.tls_sign.digest_len = KMS_PROTO_TLS_DIGEST_MIN - 1;
	refuse(false, &q, 1024, KMS_ERR_INVALID_ARG);
	q.u.tls_sign.digest_len = KMS_PROTO_TLS_DIGEST_MAX + 1;
	refuse(false, &q, 1024, KMS_ERR_INVALID_ARG);

	/* the reply's signature: exactly 64 bytes */
	CU_ASSERT_EQUAL(tls_sign_rep(bytes, KMS_PROTO_TLS_SIG_LEN), KMS_OK);
	CU_ASSERT(memcmp(dec_rep_out.u.tls_sign.signature, bytes, KMS_PROTO_TLS_SIG_LEN) == 0);
	CU_ASSERT_EQUAL(tls_sign_rep(bytes, KMS_PROTO_TLS_SIG_LEN - 1), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(tls_sign_rep(bytes, KMS_PROTO_TLS_SIG_LEN + 1), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(tls_sign_rep(bytes, 32), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(tls_sign_rep(bytes, 0), KMS_ERR_RANGE);
	/* no signature; an error reply with one */
	b_init(&b, 3);
	b_uint(&b, "op", KMS_PROTO_TLS_SIGN);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_OK);
	CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_PARSE);
	b_init(&b, 4);
	b_uint(&b, "op", KMS_PROTO_TLS_SIGN);
	b_uint(&b, "id", 1);
	b_int(&b, "status", KMS_ERR_UNSUPPORTED);
	b_bin(&b, "signature", bytes, KMS_PROTO_TLS_SIG_LEN);
	CU_ASSERT_EQUAL(b_dec(&b, true), KMS_ERR_PARSE);
}

/*
 * Encoding msg (a request, or a reply when reply is set) into cap bytes must fail with want,
 * leaving the output and its length untouched.
 */
static void
refuse(bool reply, const void *msg, size_t cap, int want)
{
	static struct enc e;
	size_t len = 12345, i, touched = 0;

	memset(e.b, 0x5a, 64);
	CU_ASSERT_EQUAL(reply ? kms_proto_encode_reply(e.b, cap, &len, msg)
			      : kms_proto_encode_request(e.b, cap, &len, msg),
			want);
	for (i = 0; i < 64; i++) {
		touched += e.b[i] != 0x5a;
	}
	CU_ASSERT_EQUAL(touched, 0);
	CU_ASSERT_EQUAL(len, 12345);
}

/* The encoder refuses what the decoder would, and a buffer that is too small. */
static void
test_encode_refuses(void)
{
	static struct enc e;
	const size_t cap = sizeof(e.b);
	struct kms_proto_request q;
	struct kms_proto_reply p;

	q = req_samples[5].msg; /* provision */
	CU_ASSERT_EQUAL_FATAL(q.op, KMS_PROTO_PROVISION);
	q.op = (enum kms_proto_op)0;
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q.op = (enum kms_proto_op)(KMS_PROTO_OP_MAX + 1);
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q = req_samples[5].msg;
	q.u.provision.client_id_len = 0;
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q.u.provision.client_id_len = KMS_PROTO_MAX_CLIENT_ID + 1;
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q.u.provision.client_id_len = SIZE_MAX;
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q = req_samples[5].msg;
	q.u.provision.client_id[2] = ' ';
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q = req_samples[5].msg;
	q.u.provision.identity[3] = '\0';
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q = req_samples[5].msg;
	q.u.provision.identity[3] = (char)0xff;
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q = req_samples[5].msg;
	refuse(false, &q, 10, KMS_ERR_TOO_LARGE);

	p = rep_samples[5].msg; /* provision */
	CU_ASSERT_EQUAL_FATAL(p.op, KMS_PROTO_PROVISION);
	CU_ASSERT_EQUAL_FATAL(p.status, KMS_OK);
	p.u.provision.period_start = p.u.provision.period_end + 1;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p = rep_samples[5].msg;
	p.u.provision.rsk_wrapped_len = 0;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p.u.provision.rsk_wrapped_len = KMS_PROTO_MAX_WRAPPED + 1;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p = rep_samples[5].msg;
	p.u.provision.trk_id_len = 0;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	/* a plain set never names a TrK, has its keys' exact lengths and a zero hmac */
	memcpy(&p, find_sample(true, "provision-plain"), sizeof(p));
	p.u.provision.trk_id_len = 1;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	memcpy(&p, find_sample(true, "provision-plain"), sizeof(p));
	p.u.provision.rsk_wrapped_len = 264;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	memcpy(&p, find_sample(true, "provision-plain"), sizeof(p));
	p.u.provision.hmac[31] = 1;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	memcpy(&p, find_sample(true, "provision"), sizeof(p));
	p.u.provision.plain = true; /* wrapped lengths and a TrK: not a plain set */
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p = rep_samples[5].msg;
	p.status = 1;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p.status = -100;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p.status = INT_MIN;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p = rep_samples[7].msg; /* certificate-min */
	CU_ASSERT_EQUAL_FATAL(p.op, KMS_PROTO_CERTIFICATE);
	p.u.certificate.parameter_set = 2;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p = rep_samples[7].msg;
	p.u.certificate.kms_uri_len = 0;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p = rep_samples[7].msg;
	p.u.certificate.user_key_period = 0;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	refuse(true, &rep_samples[7].msg, 3, KMS_ERR_TOO_LARGE);

	/* an error reply ignores its (invalid) results */
	p.status = KMS_ERR_HSM;
	CU_ASSERT_EQUAL(kms_proto_encode_reply(e.b, cap, &e.n, &p), KMS_OK);
	CU_ASSERT_EQUAL(dec(true, e.b, e.n), KMS_OK);
	CU_ASSERT_EQUAL(dec_rep_out.status, KMS_ERR_HSM);
	CU_ASSERT_EQUAL(dec_rep_out.u.certificate.user_key_period, 0);

	/* SIGN: the ids' lengths and character sets */
	q = *(const struct kms_proto_request *)find_sample(false, "sign");
	q.u.sign.client_id_len = 0;
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q.u.sign.client_id_len = KMS_PROTO_MAX_CLIENT_ID + 1;
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q.u.sign.client_id_len = SIZE_MAX;
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q = *(const struct kms_proto_request *)find_sample(false, "sign");
	q.u.sign.client_id[1] = ' ';
	refuse(false, &q, cap, KMS_ERR_INVALID_ARG);
	q = *(const struct kms_proto_request *)find_sample(false, "sign");
	refuse(false, &q, 65, KMS_ERR_TOO_LARGE);
	p = *(const struct kms_proto_reply *)find_sample(true, "sign");
	p.u.sign.key_id_len = 0;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p.u.sign.key_id_len = KMS_PROTO_MAX_KEY_ID + 1;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p.u.sign.key_id_len = SIZE_MAX;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p = *(const struct kms_proto_reply *)find_sample(true, "sign");
	p.u.sign.key_id[2] = (char)0x80;
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
	p = *(const struct kms_proto_reply *)find_sample(true, "sign");
	p.u.sign.key_id[2] = '\0';
	refuse(true, &p, cap, KMS_ERR_INVALID_ARG);
}

static void
test_equal_and_names(void)
{
	struct kms_proto_request a, b;
	struct kms_proto_reply x, y;

	a = req_samples[5].msg;
	b = a;
	CU_ASSERT(kms_proto_request_equal(&a, &b));
	b.u.provision.identity[b.u.provision.identity_len + 1] = 'Z'; /* past the length */
	CU_ASSERT(kms_proto_request_equal(&a, &b));
	b.u.provision.key_period++;
	CU_ASSERT(!kms_proto_request_equal(&a, &b));
	b = a;
	b.id++;
	CU_ASSERT(!kms_proto_request_equal(&a, &b));
	b = a;
	b.u.provision.identity_len--;
	CU_ASSERT(!kms_proto_request_equal(&a, &b));
	a.op = b.op = (enum kms_proto_op)0;
	CU_ASSERT(!kms_proto_request_equal(&a, &b));

	x = rep_samples[6].msg; /* provision-error */
	CU_ASSERT_EQUAL_FATAL(x.status, KMS_ERR_FORBIDDEN);
	y = x;
	y.u.provision.key_period = 99; /* results of an error reply do not count */
	CU_ASSERT(kms_proto_reply_equal(&x, &y));
	y.status = KMS_ERR_AUTH;
	CU_ASSERT(!kms_proto_reply_equal(&x, &y));

	/* SIGN: every byte of the digest and the signature counts, bytes past key_id do not */
	a = *(const struct kms_proto_request *)find_sample(false, "sign");
	b = a;
	CU_ASSERT(kms_proto_request_equal(&a, &b));
	b.u.sign.client_id[b.u.sign.client_id_len + 1] = 'Z';
	CU_ASSERT(kms_proto_request_equal(&a, &b));
	b.u.sign.digest[KMS_PROTO_DIGEST_LEN - 1] ^= 1;
	CU_ASSERT(!kms_proto_request_equal(&a, &b));
	b = a;
	b.u.sign.digest[0] ^= 0x80;
	CU_ASSERT(!kms_proto_request_equal(&a, &b));
	x = *(const struct kms_proto_reply *)find_sample(true, "sign");
	y = x;
	CU_ASSERT(kms_proto_reply_equal(&x, &y));
	y.u.sign.key_id[y.u.sign.key_id_len + 1] = 'Z';
	CU_ASSERT(kms_proto_reply_equal(&x, &y));
	y.u.sign.signature[KMS_PROTO_HMAC_LEN - 1] ^= 1;
	CU_ASSERT(!kms_proto_reply_equal(&x, &y));
	y = x;
	y.u.sign.key_id[0] = 'J';
	CU_ASSERT(!kms_proto_reply_equal(&x, &y));
	y = x;
	y.op = KMS_PROTO_PROVISION;
	CU_ASSERT(!kms_proto_reply_equal(&x, &y));

	CU_ASSERT_STRING_EQUAL(kms_proto_op_name(KMS_PROTO_HEALTH), "health");
	CU_ASSERT_STRING_EQUAL(kms_proto_op_name(KMS_PROTO_PROVISION), "provision");
	CU_ASSERT_STRING_EQUAL(kms_proto_op_name(KMS_PROTO_CERTIFICATE), "certificate");
	CU_ASSERT_STRING_EQUAL(kms_proto_op_name(KMS_PROTO_ROTATE_KEYS), "rotate_keys");
	CU_ASSERT_STRING_EQUAL(kms_proto_op_name(KMS_PROTO_SIGN), "sign");
	CU_ASSERT_STRING_EQUAL(kms_proto_op_name(KMS_PROTO_TLS_SIGN), "tls_sign");
	CU_ASSERT_STRING_EQUAL(kms_proto_op_name(KMS_PROTO_VERIFY), "verify");
	CU_ASSERT_PTR_NULL(kms_proto_op_name(0));
	CU_ASSERT_PTR_NULL(kms_proto_op_name(-1));
	CU_ASSERT_PTR_NULL(kms_proto_op_name(KMS_PROTO_OP_MAX + 1));
}

/* ---------------------------------------------------------------------------------------- */
/* Seeds for the fuzzers                                                                     */

#define CORPUS_DIR KMS_SOURCE_DIR "/tests/fuzz/corpus"

static int
write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int r = 0;

	if (f == NULL) {
		return -1;
	}
	if (fwrite(p, 1, n, f) != n) {
		r = -1;
	}
	if (fclose(f) != 0) {
		r = -1;
	}
	return r;
}

/* n bytes of the file at path into buf (cap), or -1. */
static long
read_file(const char *path, uint8_t *buf, size_t cap)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL) {
		return -1;
	}
	n = fread(buf, 1, cap, f);
	fclose(f);
	return n == cap ? -1 : (long)n;
}

static void
seed_path(char *path, size_t cap, const char *dir, size_t k)
{
	int n = snprintf(path, cap, "%s/%s/%s", dir,
			 k < num_req_samples ? "fuzz_proto_request" : "fuzz_proto_reply",
			 sample_name(k));

	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "seed path too long\n");
		abort();
	}
}

/* test_proto --write-seeds DIR: the samples' encodings, one file each. */
static int
write_seeds(const char *dir)
{
	static struct enc e;
	char path[4096];
	size_t k;

	build_samples();
	for (k = 0; k < num_samples(); k++) {
		if (k < num_req_samples) {
			if (kms_proto_encode_request(e.b, sizeof(e.b), &e.n, &req_samples[k].msg) !=
			    KMS_OK) {
				return 1;
			}
		} else if (kms_proto_encode_reply(e.b, sizeof(e.b), &e.n,
						  &rep_samples[k - num_req_samples].msg) !=
			   KMS_OK) {
			return 1;
		}
		seed_path(path, sizeof(path), dir, k);
		if (write_file(path, e.b, e.n) != 0) {
			fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
			return 1;
		}
	}
	return 0;
}

/* The committed seeds are exactly the samples' encodings (regenerate with --write-seeds). */
static void
test_seeds_current(void)
{
	static struct enc e;
	static uint8_t file[KMS_MAX_IPC + 1];
	char path[4096];
	size_t k;
	long n;

	for (k = 0; k < num_samples(); k++) {
		(void)sample(k, &e);
		seed_path(path, sizeof(path), CORPUS_DIR, k);
		n = read_file(path, file, sizeof(file));
		if (n < 0 || (size_t)n != e.n || memcmp(file, e.b, e.n) != 0) {
			fprintf(stderr, "%s is missing or stale: run test_proto --write-seeds %s\n",
				path, CORPUS_DIR);
			CU_FAIL("seed missing or stale");
		}
	}
}

/* ---------------------------------------------------------------------------------------- */
/* Frames                                                                                    */

static void
test_frame_check(void)
{
	uint8_t buf[KMS_FRAME_HEADER_LEN + 32];
	enum kms_frame_state st = KMS_FRAME_COMPLETE;
	size_t len = 0, i;

	CU_ASSERT_EQUAL(kms_proto_frame_check(&st, &len, NULL, 0), KMS_OK);
	CU_ASSERT(st == KMS_FRAME_NEED_MORE && len == KMS_FRAME_HEADER_LEN);
	CU_ASSERT_EQUAL(kms_proto_frame_header(buf, 10), KMS_OK);
	CU_ASSERT(buf[0] == 0 && buf[1] == 0 && buf[2] == 0 && buf[3] == 10);
	memset(buf + 4, 0x77, sizeof(buf) - 4);
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(kms_proto_frame_check(&st, &len, buf, i), KMS_OK);
		CU_ASSERT(st == KMS_FRAME_NEED_MORE && len == KMS_FRAME_HEADER_LEN);
	}
	for (i = 4; i < 14; i++) {
		CU_ASSERT_EQUAL(kms_proto_frame_check(&st, &len, buf, i), KMS_OK);
		CU_ASSERT(st == KMS_FRAME_NEED_MORE && len == 14);
	}
	for (i = 14; i <= sizeof(buf); i++) {
		CU_ASSERT_EQUAL(kms_proto_frame_check(&st, &len, buf, i), KMS_OK);
		CU_ASSERT(st == KMS_FRAME_COMPLETE && len == 14);
	}
	/* the largest frame, and one byte more */
	CU_ASSERT_EQUAL(kms_proto_frame_header(buf, KMS_MAX_IPC), KMS_OK);
	CU_ASSERT(buf[0] == 0 && buf[1] == 1 && buf[2] == 0 && buf[3] == 0);
	CU_ASSERT_EQUAL(kms_proto_frame_check(&st, &len, buf, 4), KMS_OK);
	CU_ASSERT(st == KMS_FRAME_NEED_MORE && len == KMS_FRAME_HEADER_LEN + KMS_MAX_IPC);
	st = KMS_FRAME_COMPLETE;
	len = 999;
	buf[3] = 1;
	CU_ASSERT_EQUAL(kms_proto_frame_check(&st, &len, buf, 4), KMS_ERR_TOO_LARGE);
	memset(buf, 0xff, 4);
	CU_ASSERT_EQUAL(kms_proto_frame_check(&st, &len, buf, 20), KMS_ERR_TOO_LARGE);
	memset(buf, 0, 4);
	CU_ASSERT_EQUAL(kms_proto_frame_check(&st, &len, buf, 20), KMS_ERR_RANGE);
	CU_ASSERT(st == KMS_FRAME_COMPLETE && len == 999); /* untouched */

	memset(buf, 0xee, 4);
	CU_ASSERT_EQUAL(kms_proto_frame_header(buf, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_proto_frame_header(buf, KMS_MAX_IPC + 1), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_proto_frame_header(buf, SIZE_MAX), KMS_ERR_INVALID_ARG);
	CU_ASSERT(buf[0] == 0xee && buf[3] == 0xee);
}

static void
make_pair(int fds[2])
{
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, fds) == 0);
}

static void
write_all(int fd, const void *p, size_t n)
{
	const uint8_t *b = p;
	ssize_t k;

	while (n > 0) {
		k = write(fd, b, n);
		if (k < 0 && errno == EINTR) {
			continue;
		}
		CU_ASSERT_FATAL(k > 0);
		b += k;
		n -= (size_t)k;
	}
}

/* Write hex to one end, close it, and read a frame from the other. */
static int
read_after(const char *hex, size_t cap, size_t *out_len, uint8_t *out)
{
	uint8_t buf[64];
	size_t n = kms_test_hex(buf, sizeof(buf), hex);
	int fds[2], r;

	make_pair(fds);
	write_all(fds[0], buf, n);
	close(fds[0]);
	r = kms_proto_frame_read(fds[1], out, cap, out_len);
	close(fds[1]);
	return r;
}

static void
test_frame_read_errors(void)
{
	static uint8_t out[KMS_MAX_IPC];
	size_t len = 777;
	int fds[2];
	uint8_t rest[8];

	CU_ASSERT_EQUAL(read_after("", sizeof(out), &len, out), KMS_ERR_CLOSED);
	CU_ASSERT_EQUAL(read_after("00", sizeof(out), &len, out), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(read_after("000000", sizeof(out), &len, out), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(read_after("00000005 0102", sizeof(out), &len, out), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(read_after("00000001", sizeof(out), &len, out), KMS_ERR_TRUNCATED);
	CU_ASSERT_EQUAL(read_after("00000000 01", sizeof(out), &len, out), KMS_ERR_RANGE);
	CU_ASSERT_EQUAL(read_after("00010001 01", sizeof(out), &len, out), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(read_after("ffffffff 01", sizeof(out), &len, out), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(read_after("80000000 01", sizeof(out), &len, out), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(read_after("00000005 0102030405", 4, &len, out), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(len, 777);
	CU_ASSERT_EQUAL(read_after("00000005 0102030405", 5, &len, out), KMS_OK);
	CU_ASSERT(len == 5 && out[0] == 1 && out[4] == 5);

	/* an oversize length is refused before a single payload byte is read */
	make_pair(fds);
	write_all(fds[0],
		  "\x00\x01\x00\x01"
		  "abcdefg",
		  11);
	CU_ASSERT_EQUAL(kms_proto_frame_read(fds[1], out, sizeof(out), &len), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(read(fds[1], rest, sizeof(rest)), 7);
	close(fds[0]);
	close(fds[1]);

	/* not a socket, not readable */
	CU_ASSERT_EQUAL(kms_proto_frame_read(-1, out, sizeof(out), &len), KMS_ERR_IO);
}

static void
test_frame_write_errors(void)
{
	static uint8_t payload[KMS_MAX_IPC + 1];
	int fds[2], p[2];

	make_pair(fds);
	CU_ASSERT_EQUAL(kms_proto_frame_write(fds[0], payload, 0), KMS_ERR_INVALID_ARG);
	CU_ASSERT_EQUAL(kms_proto_frame_write(fds[0], payload, KMS_MAX_IPC + 1),
			KMS_ERR_INVALID_ARG);
	/* a peer that is gone: KMS_ERR_IO, and no SIGPIPE (which would end this program) */
	close(fds[1]);
	CU_ASSERT_EQUAL(kms_proto_frame_write(fds[0], payload, 10), KMS_ERR_IO);
	close(fds[0]);
	CU_ASSERT_EQUAL(kms_proto_frame_write(-1, payload, 10), KMS_ERR_IO);
	/* a pipe is not a socket */
	CU_ASSERT_FATAL(pipe(p) == 0);
	CU_ASSERT_EQUAL(kms_proto_frame_write(p[1], payload, 10), KMS_ERR_IO);
	close(p[0]);
	close(p[1]);
}

/* Signals without SA_RESTART: each interrupts a blocked read() or sendmsg() (EINTR). */
static atomic_uint signals_seen;

static void
on_signal(int sig)
{
	(void)sig;
	atomic_fetch_add(&signals_seen, 1);
}

static void
install_handler(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sa.sa_flags = 0; /* no SA_RESTART */
	CU_ASSERT_FATAL(sigaction(SIGUSR1, &sa, NULL) == 0);
}

static void
sleep_us(long us)
{
	struct timespec ts = {0, us * 1000};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

/* A writer that dribbles bytes one at a time, and pokes the reader with signals. */
struct dribble {
	int fd;
	const uint8_t *p;
	size_t n;
	pthread_t reader;
};

static void *
dribble_main(void *arg)
{
	struct dribble *d = arg;
	size_t i;
	ssize_t k;

	for (i = 0; i < d->n; i++) {
		if (i % 3 == 0) {
			pthread_kill(d->reader, SIGUSR1);
		}
		sleep_us(20);
		do {
			k = write(d->fd, d->p + i, 1);
		} while (k < 0 && errno == EINTR);
		if (k != 1) {
			break;
		}
	}
	return NULL;
}

/* A message written one byte at a time, with EINTR in the reader: one whole frame read. */
static void
test_frame_read_dribble(void)
{
	static struct enc e;
	static uint8_t frame[KMS_FRAME_HEADER_LEN + KMS_MAX_IPC], out[KMS_MAX_IPC];
	struct dribble d;
	pthread_t t;
	size_t len = 0;
	int fds[2];

	install_handler();
	enc_req(&e, 5); /* provision */
	CU_ASSERT_EQUAL_FATAL(kms_proto_frame_header(frame, e.n), KMS_OK);
	memcpy(frame + KMS_FRAME_HEADER_LEN, e.b, e.n);
	make_pair(fds);
	d.fd = fds[0];
	d.p = frame;
	d.n = KMS_FRAME_HEADER_LEN + e.n;
	d.reader = pthread_self();
	atomic_store(&signals_seen, 0);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, dribble_main, &d) == 0);
	CU_ASSERT_EQUAL(kms_proto_frame_read(fds[1], out, sizeof(out), &len), KMS_OK);
	pthread_join(t, NULL);
	CU_ASSERT(atomic_load(&signals_seen) > 0);
	CU_ASSERT(len == e.n && memcmp(out, e.b, e.n) == 0);
	CU_ASSERT_EQUAL(dec(false, out, len), KMS_OK);
	CU_ASSERT(kms_proto_request_equal(&dec_req_out, &req_samples[5].msg));
	close(fds[0]);
	/* after it, a clean end */
	CU_ASSERT_EQUAL(kms_proto_frame_read(fds[1], out, sizeof(out), &len), KMS_ERR_CLOSED);
	close(fds[1]);
}

struct writer {
	int fd;
	const uint8_t *p;
	size_t n;
	int r;
	atomic_bool done;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;

	w->r = kms_proto_frame_write(w->fd, w->p, w->n);
	atomic_store(&w->done, true);
	return NULL;
}

/*
 * The largest frame through small socket buffers, its writer interrupted by signals while it
 * blocks: sendmsg() returns short counts and EINTR, and the frame still arrives whole.
 */
static void
test_frame_write_interrupted(void)
{
	static uint8_t payload[KMS_MAX_IPC];
	static uint8_t got[KMS_FRAME_HEADER_LEN + KMS_MAX_IPC];
	struct writer w;
	pthread_t t;
	enum kms_frame_state st = KMS_FRAME_NEED_MORE;
	size_t have = 0, flen = 0;
	int fds[2], small = 4096;
	ssize_t k;

	install_handler();
	fill_bytes(payload, sizeof(payload), 11);
	make_pair(fds);
	CU_ASSERT(setsockopt(fds[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)) == 0);
	CU_ASSERT(setsockopt(fds[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)) == 0);
	w.fd = fds[0];
	w.p = payload;
	w.n = sizeof(payload);
	w.r = KMS_ERR_INTERNAL;
	atomic_store(&w.done, false);
	atomic_store(&signals_seen, 0);
	CU_ASSERT_FATAL(pthread_create(&t, NULL, writer_main, &w) == 0);
	while (have < sizeof(got)) {
		if (!atomic_load(&w.done)) {
			sleep_us(100); /* let the writer block on a full buffer */
			pthread_kill(t, SIGUSR1);
		}
		k = read(fds[1], got + have, 1000 < sizeof(got) - have ? 1000 : sizeof(got) - have);
		if (k < 0 && errno == EINTR) {
			continue;
		}
		CU_ASSERT_FATAL(k > 0);
		have += (size_t)k;
	}
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(w.r, KMS_OK);
	CU_ASSERT(atomic_load(&signals_seen) > 0);
	CU_ASSERT_EQUAL(kms_proto_frame_check(&st, &flen, got, have), KMS_OK);
	CU_ASSERT(st == KMS_FRAME_COMPLETE && flen == sizeof(got));
	CU_ASSERT(memcmp(got + KMS_FRAME_HEADER_LEN, payload, sizeof(payload)) == 0);
	close(fds[0]);
	close(fds[1]);
}

/* Every sample through a socketpair: encode, frame, read, decode. */
static void
test_frame_round_trip(void)
{
	static struct enc e;
	static uint8_t out[KMS_MAX_IPC];
	size_t k, len = 0;
	int fds[2];
	bool reply;

	make_pair(fds);
	for (k = 0; k < num_samples(); k++) {
		reply = sample(k, &e);
		CU_ASSERT_EQUAL_FATAL(kms_proto_frame_write(fds[0], e.b, e.n), KMS_OK);
		CU_ASSERT_EQUAL_FATAL(kms_proto_frame_read(fds[1], out, sizeof(out), &len), KMS_OK);
		CU_ASSERT(len == e.n && memcmp(out, e.b, e.n) == 0);
		CU_ASSERT_EQUAL(dec(reply, out, len), KMS_OK);
	}
	close(fds[0]);
	close(fds[1]);
}

static CU_TestInfo mp_tests[] = {
	{"prescan: valid objects", test_prescan_valid},
	{"prescan: floats, ext and 0xc1 refused", test_prescan_refused_types},
	{"prescan: truncated and trailing", test_prescan_truncated_and_trailing},
	{"prescan: huge count and length claims, fast, no allocation", test_prescan_huge_claims},
	{"prescan: depth limit and depth bombs", test_prescan_depth},
	{"UTF-8", test_utf8},
	{"text without control characters", test_text_check},
	{"integer getters: canonical forms only", test_getters_int},
	{"str, bin, map, bool getters", test_getters_other},
	{"skip", test_skip},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo msg_tests[] = {
	{"round trip of every sample", test_round_trip},
	{"decoded fields", test_decoded_fields},
	{"golden encodings", test_golden},
	{"every status code", test_every_status},
	{"truncation at every offset", test_truncation},
	{"bit flips at every bit", test_bit_flips},
	{"missing keys", test_missing_keys},
	{"keys in any order", test_key_order},
	{"duplicate keys", test_duplicate_keys},
	{"unknown keys", test_unknown_keys},
	{"wrong types", test_wrong_types},
	{"non-canonical encodings", test_non_canonical},
	{"trailing bytes", test_trailing},
	{"not a map", test_not_a_map},
	{"op, id and status ranges", test_header_ranges},
	{"request field bounds and character sets", test_field_bounds},
	{"reply field bounds", test_reply_bounds},
	{"SIGN: digest, signature and id bounds", test_sign_bounds},
	{"TLS_SIGN: digest and signature bounds", test_tls_sign_bounds},
	{"AUDIT_SIGN: seq, hash, time and signature bounds", test_audit_sign_bounds},
	{"encoder refuses invalid messages", test_encode_refuses},
	{"equality and names", test_equal_and_names},
	{"fuzz seeds are current", test_seeds_current},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo frame_tests[] = {
	{"frame check", test_frame_check},
	{"read: EOF, zero and oversize lengths", test_frame_read_errors},
	{"write: bad lengths, dead peer, not a socket", test_frame_write_errors},
	{"read: one byte at a time, EINTR", test_frame_read_dribble},
	{"write: short writes and EINTR", test_frame_write_interrupted},
	{"every sample through a socketpair", test_frame_round_trip},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"mp", NULL, NULL, NULL, NULL, mp_tests},
	{"msg", suite_init, NULL, NULL, NULL, msg_tests},
	{"frame", suite_init, NULL, NULL, NULL, frame_tests},
	CU_SUITE_INFO_NULL,
};

int
main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "--write-seeds") == 0) {
		return write_seeds(argv[2]);
	}
	if (argc != 1) {
		fprintf(stderr, "usage: test_proto [--write-seeds DIR]\n");
		return 2;
	}
	return kms_test_main(suites);
}
