/* SPDX-License-Identifier: Apache-2.0 */
/*
 * kms-bench - the project's benchmarks. Performance is measured here, never in timed tests.
 *
 *   kms-bench crypto [--seconds S]
 *   kms-bench hsm [--seconds S] [--token softhsm|nss]
 *   kms-bench load --dir DIR [--seconds S] [--connections N] [--kmsd PATH]
 *   kms-bench load --dir DIR --soak MINUTES [--connections N] [--rss-bound KB] [--kmsd PATH]
 *   kms-bench selftest
 *
 * load: kmsd under mutual-TLS load on a development domain (tools/kms-bench-load.c); with
 * --soak, a long run of good and bad requests that watches the errors and the RSS of kmsd and
 * kms-hsmd.
 *
 * hsm makes a throw-away SoftHSM token (--token nss: an NSS softoken database, whose RFC 5649
 * wrap is exact; online issuer only, as it cannot unwrap a 257-octet RSK) and development
 * domain (tools/devdomain.c) and prints provisions per second through kms-hsmd's adapter
 * (frames over a socketpair) for each issuer, with the references measured in the same run,
 * interleaved (five rounds of each: a drifting machine moves a rate and its reference alike):
 *   token                     softhsm or nss
 *   hsm_raw_keyset_per_s      the token's own work for one pre-minted key set: C_UnwrapKey
 *                             under the KEK and C_WrapKey under the TrK of its three elements
 *   preminted_provision_per_s provisions through the adapter, pre-minted issuer
 *   online_provision_per_s    provisions through the adapter, online issuer
 *   rsk_issue_per_s           the issuing core's RSK rate
 *   preminted_vs_raw          preminted_provision_per_s / hsm_raw_keyset_per_s
 *   online_vs_rsk             online_provision_per_s / rsk_issue_per_s
 *   wrap_mode                 token, or host-ecb on a token with the RFC 5649 defect
 * and in host-ecb mode, what that wrap costs:
 *   ecb_step_per_s            one-block C_EncryptUpdate calls per second (AES-ECB, session
 *                             key): the unit of the host-ECB wrap
 *   host_ecb_steps_per_set    such calls per key set, one after another (6n for the RSK's n
 *                             = 33 blocks; the PVT's and SSK's steps ride along)
 *   host_ecb_share_online     the share of an online provision's time that those calls take
 *                             (host_ecb_steps_per_set / ecb_step_per_s * the provision rate)
 *   host_ecb_share_preminted  the same for a pre-minted provision
 *
 * selftest runs the known-answer tests of the issuing core (hsm/kat.c) and says which failed.
 *
 * prints, one per line, "name value" for one thread:
 *   rsk_issue_per_s       SAKKE RSKs issued (RFC 6508, parameter set 1), self-check included
 *   ssk_issue_per_s       ECCSI (SSK, PVT) pairs issued (RFC 6507), self-check included
 *   rsk_validate_per_s    client-side RSK pairing checks (RFC 6508 6.1.2)
 *   ref_openssl_mul_per_s OpenSSL's generic constant-time [k]P on the SAKKE curve, measured in
 *                         the same run as a reference for this machine
 *   rsk_issue_vs_ref      rsk_issue_per_s / ref_openssl_mul_per_s
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/rand.h>

#include "common/conf.h"
#include "common/err.h"
#include "common/log.h"
#include "common/secmem.h"
#include "hsm/adapter.h"
#include "hsm/eccsi.h"
#include "hsm/internal.h"
#include "hsm/kat.h"
#include "hsm/sakke.h"
#include "hsm/uid.h"
#include "proto/frame.h"
#include "proto/store.h"
#include "tools/devdomain.h"
#include "tools/kms-bench-load.h"

#include "common/banned.h"

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* A distinct 32-octet identifier per iteration, like the UIDs of a roster. */
static void
make_id(uint8_t id[KMS_UID_LEN], unsigned long i)
{
	char uri[64];
	int n = snprintf(uri, sizeof(uri), "sip:user%lu@example.org", i);

	if (n < 0 || kms_uid_compute(id, uri, (size_t)n, "kms.example.org", 15, 2592000, 0, 1500) !=
			     KMS_OK) {
		memset(id, (int)(i & 0xff), KMS_UID_LEN);
	}
}

static int
bench_rsk_issue(double seconds, double *out)
{
	struct kms_sakke_kms *kms = NULL;
	uint8_t rsk[KMS_SAKKE_POINT_LEN];
	uint8_t id[KMS_UID_LEN];
	unsigned long n = 0;
	double t0;
	double t;
	int r;

	if ((r = kms_sakke_kms_generate(&kms)) != KMS_OK) {
		return r;
	}
	t0 = now();
	do {
		make_id(id, n);
		if ((r = kms_sakke_issue(kms, id, sizeof(id), rsk)) != KMS_OK) {
			break;
		}
		n++;
	} while ((t = now() - t0) < seconds);
	*out = (double)n / (now() - t0);
	kms_memzero(rsk, sizeof(rsk));
	kms_sakke_kms_free(kms);
	return r;
}

static int
bench_rsk_validate(double seconds, double *out)
{
	struct kms_sakke_kms *kms = NULL;
	uint8_t rsk[8][KMS_SAKKE_POINT_LEN];
	uint8_t id[8][KMS_UID_LEN];
	uint8_t zpub[KMS_SAKKE_POINT_LEN];
	unsigned long n = 0;
	double t0;
	int r;
	int i;

	if ((r = kms_sakke_kms_generate(&kms)) != KMS_OK) {
		return r;
	}
	kms_sakke_kms_public(kms, zpub);
	for (i = 0; i < 8; i++) {
		make_id(id[i], (unsigned long)i);
		if ((r = kms_sakke_issue(kms, id[i], KMS_UID_LEN, rsk[i])) != KMS_OK) {
			goto out;
		}
	}
	t0 = now();
	do {
		if ((r = kms_sakke_validate(zpub, id[n % 8], KMS_UID_LEN, rsk[n % 8])) != KMS_OK) {
			goto out;
		}
		n++;
	} while (now() - t0 < seconds);
	*out = (double)n / (now() - t0);
out:
	kms_memzero(rsk, sizeof(rsk));
	kms_sakke_kms_free(kms);
	return r;
}

static int
bench_ssk_issue(double seconds, double *out)
{
	struct kms_eccsi_kms *kms = NULL;
	uint8_t ssk[KMS_ECCSI_SCALAR_LEN];
	uint8_t pvt[KMS_ECCSI_POINT_LEN];
	uint8_t id[KMS_UID_LEN];
	unsigned long n = 0;
	double t0;
	int r;

	if ((r = kms_eccsi_kms_generate(&kms)) != KMS_OK) {
		return r;
	}
	t0 = now();
	do {
		make_id(id, n);
		if ((r = kms_eccsi_issue(kms, id, sizeof(id), ssk, pvt)) != KMS_OK) {
			break;
		}
		n++;
	} while (now() - t0 < seconds);
	*out = (double)n / (now() - t0);
	kms_memzero(ssk, sizeof(ssk));
	kms_eccsi_kms_free(kms);
	return r;
}

/* OpenSSL's generic prime-curve point multiplication on the SAKKE curve, constant-time flag. */
static int
bench_reference(double seconds, double *out)
{
	static const char *const hex[] = {
		/* p */
		"997ABB1F0A563FDA65C61198DAD0657A416C0CE19CB48261BE9AE358B3E01A2E"
		"F40AAB27E2FC0F1B228730D531A59CB0E791B39FF7C88A19356D27F4A666A6D0"
		"E26C6487326B4CD4512AC5CD65681CE1B6AFF4A831852A82A7CF3C521C3C09AA"
		"9F94D6AF56971F1FFCE3E82389857DB080C5DF10AC7ACE87666D807AFEA85FEB",
		/* q */
		"265EAEC7C2958FF69971846636B4195E905B0338672D20986FA6B8D62CF8068B"
		"BD02AAC9F8BF03C6C8A1CC354C69672C39E46CE7FDF222864D5B49FD2999A9B4"
		"389B1921CC9AD335144AB173595A07386DABFD2A0C614AA0A9F3CF14870F026A"
		"A7E535ABD5A5C7C7FF38FA08E2615F6C203177C42B1EB3A1D99B601EBFAA17FB",
		/* Px */
		"53FC09EE332C29AD0A7990053ED9B52A2B1A2FD60AEC69C698B2F204B6FF7CBF"
		"B5EDB6C0F6CE2308AB10DB9030B09E1043D5F22CDB9DFA55718BD9E7406CE890"
		"9760AF765DD5BCCB337C86548B72F2E1A702C3397A60DE74A7C1514DBA66910D"
		"D5CFB4CC80728D87EE9163A5B63F73EC80EC46C4967E0979880DC8ABEAE63895",
		/* Py */
		"0A8249063F6009F1F9F1F0533634A135D3E82016029906963D778D821E141178"
		"F5EA69F4654EC2B9E7F7F5E5F0DE55F66B598CCF9A140B2E416CFF0CA9E032B9"
		"70DAE117AD547C6CCAD696B5B7652FE0AC6F1E80164AA989492D979FC5A4D5F2"
		"13515AD7E9CB99A980BDAD5AD5BB4636ADB9B5706A67DCDE75573FD71BEF16D7",
	};
	BIGNUM *p = NULL, *q = NULL, *x = NULL, *y = NULL, *a = NULL, *b = NULL, *k = NULL;
	BIGNUM *cof = NULL;
	BN_CTX *ctx = BN_CTX_new();
	EC_GROUP *grp = NULL;
	EC_POINT *g = NULL, *res = NULL;
	unsigned long n = 0;
	double t0;
	int r = KMS_ERR_CRYPTO;

	a = BN_new();
	b = BN_new();
	k = BN_new();
	cof = BN_new();
	if (ctx == NULL || a == NULL || b == NULL || k == NULL || cof == NULL ||
	    !BN_hex2bn(&p, hex[0]) || !BN_hex2bn(&q, hex[1]) || !BN_hex2bn(&x, hex[2]) ||
	    !BN_hex2bn(&y, hex[3])) {
		goto out;
	}
	if (!BN_sub(a, p, BN_value_one()) || !BN_sub_word(a, 2) || !BN_set_word(cof, 4)) {
		goto out; /* a = p - 3, b = 0 */
	}
	BN_zero(b);
	grp = EC_GROUP_new_curve_GFp(p, a, b, ctx);
	g = grp != NULL ? EC_POINT_new(grp) : NULL;
	res = grp != NULL ? EC_POINT_new(grp) : NULL;
	if (g == NULL || res == NULL || !EC_POINT_set_affine_coordinates(grp, g, x, y, ctx) ||
	    !EC_GROUP_set_generator(grp, g, q, cof)) {
		goto out;
	}
	t0 = now();
	do {
		if (!BN_rand_range(k, q)) {
			goto out;
		}
		BN_set_flags(k, BN_FLG_CONSTTIME);
		if (!EC_POINT_mul(grp, res, NULL, g, k, ctx) ||
		    !EC_POINT_get_affine_coordinates(grp, res, x, y, ctx)) {
			goto out;
		}
		n++;
	} while (now() - t0 < seconds);
	*out = (double)n / (now() - t0);
	r = KMS_OK;
out:
	EC_POINT_free(g);
	EC_POINT_free(res);
	EC_GROUP_free(grp);
	BN_free(p);
	BN_free(q);
	BN_free(x);
	BN_free(y);
	BN_free(a);
	BN_free(b);
	BN_clear_free(k);
	BN_free(cof);
	BN_CTX_free(ctx);
	return r;
}

/* --- kms-bench hsm ------------------------------------------------------------------------ */

/* The token's work for one pre-minted key set, without the adapter around it. */
static int
bench_raw_keyset(struct kms_devdomain *d, double seconds, double *out)
{
	struct kms_store *st = NULL;
	struct kms_store_keyset ks;
	struct kms_p11_session *s = NULL;
	struct kms_wrap_policy pol = {CKM_AES_KEY_WRAP_PAD, KMS_WRAP_TOKEN};
	CK_OBJECT_HANDLE kek, trk;
	const struct kms_store_blob *blobs[3];
	static const size_t lens[3] = {KMS_SAKKE_POINT_LEN, KMS_ECCSI_SCALAR_LEN,
				       KMS_ECCSI_POINT_LEN};
	unsigned long n = 0;
	double t0;
	int r;
	int i;

	if ((r = kms_store_open(&st, d->tok.store_path, KMS_STORE_RO)) != KMS_OK ||
	    (r = kms_store_get_keyset(st, KMS_DEV_ALICE, d->now_period, &ks)) != KMS_OK ||
	    (r = kms_p11_borrow(d->tok.p11, &s)) != KMS_OK) {
		goto out;
	}
	if ((r = kms_keys_find(s, &kek, KMS_DEV_KEK)) != KMS_OK ||
	    (r = kms_keys_find(s, &trk, "tk.0.alice")) != KMS_OK) {
		goto out;
	}
	blobs[0] = &ks.rsk;
	blobs[1] = &ks.ssk;
	blobs[2] = &ks.pvt;
	t0 = now();
	do {
		for (i = 0; i < 3; i++) {
			CK_OBJECT_HANDLE obj = CK_INVALID_HANDLE;
			CK_MECHANISM mech = {pol.kwp, NULL, 0};
			uint8_t blob[KMS_WRAP_MAX_BLOB];
			CK_ULONG blob_len = sizeof(blob);

			if ((r = kms_unwrap_object(s, &pol, kek, blobs[i]->data, blobs[i]->len,
						   lens[i], &obj)) != KMS_OK) {
				goto out;
			}
			r = kms_p11_check(s,
					  kms_p11_fn(s)->C_WrapKey(kms_p11_handle(s), &mech, trk,
								   obj, blob, &blob_len),
					  "C_WrapKey");
			if (kms_p11_destroy_object(s, obj) != KMS_OK || r != KMS_OK) {
				r = r != KMS_OK ? r : KMS_ERR_HSM;
				goto out;
			}
		}
		n++;
	} while (now() - t0 < seconds);
	*out = (double)n / (now() - t0);
	r = KMS_OK;
out:
	kms_p11_return(s);
	kms_store_close(st);
	return r;
}

/*
 * The unit of the host-ECB wrap (hsm/keys.c): one C_EncryptUpdate of one AES block (AES-ECB)
 * under a session AES-256 key, the operation started once. Per second.
 */
static int
bench_ecb_step(struct kms_devdomain *d, double seconds, double *out)
{
	static CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	static CK_KEY_TYPE type = CKK_AES;
	static CK_ULONG klen = 32;
	static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_MECHANISM gen = {CKM_AES_KEY_GEN, NULL, 0};
	CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};
	CK_ATTRIBUTE tmpl[] = {
		{CKA_CLASS, &cls, sizeof(cls)},       {CKA_KEY_TYPE, &type, sizeof(type)},
		{CKA_VALUE_LEN, &klen, sizeof(klen)}, {CKA_TOKEN, &no, sizeof(no)},
		{CKA_ENCRYPT, &yes, sizeof(yes)},
	};
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE k = CK_INVALID_HANDLE;
	CK_FUNCTION_LIST *f;
	CK_SESSION_HANDLE h;
	uint8_t blk[16] = {0};
	uint8_t enc[16];
	unsigned long n = 0;
	double t0;
	int r;

	if ((r = kms_p11_borrow(d->tok.p11, &s)) != KMS_OK) {
		return r;
	}
	f = kms_p11_fn(s);
	h = kms_p11_handle(s);
	if ((r = kms_p11_check(s, f->C_GenerateKey(h, &gen, tmpl, 5, &k), "C_GenerateKey")) !=
		    KMS_OK ||
	    (r = kms_p11_check(s, f->C_EncryptInit(h, &ecb, k), "C_EncryptInit")) != KMS_OK) {
		goto out;
	}
	t0 = now();
	do {
		CK_ULONG el = sizeof(enc);

		if ((r = kms_p11_check(s, f->C_EncryptUpdate(h, blk, 16, enc, &el),
				       "C_EncryptUpdate")) != KMS_OK) {
			break;
		}
		memcpy(blk, enc, 16); /* each step on the last one's output, as RFC 3394's */
		n++;
	} while (now() - t0 < seconds);
	*out = (double)n / (now() - t0);
	{
		CK_ULONG el = sizeof(enc);

		(void)f->C_EncryptFinal(h, enc, &el);
	}
out:
	if (k != CK_INVALID_HANDLE) {
		(void)f->C_DestroyObject(h, k);
	}
	kms_p11_return(s);
	return r;
}

struct serve_arg {
	struct kms_adapter *a;
	int fd;
	int result;
};

static void *
serve_thread(void *p)
{
	struct serve_arg *arg = p;

	arg->result = kms_adapter_serve(arg->a, arg->fd);
	close(arg->fd);
	return NULL;
}

/* Provisions of alice's current key set through the adapter, over frames, as kmsd asks. */
static int
bench_provision(struct kms_devdomain *d, enum kms_issuer issuer, double seconds, double *out,
		enum kms_wrap_mode *out_mode)
{
	static uint8_t buf[KMS_MAX_IPC];
	struct kms_adapter_config cfg;
	struct kms_adapter *a = NULL;
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	struct serve_arg arg;
	pthread_t th;
	int sv[2] = {-1, -1};
	unsigned long n = 0;
	size_t len = 0;
	double t0;
	int r;

	kms_devdomain_adapter_cfg(&cfg, d->tok.store_path, d->kwp, issuer);
	if ((r = kms_adapter_new(&a, d->tok.p11, &cfg)) != KMS_OK) {
		return r;
	}
	*out_mode = kms_adapter_wrap_mode(a);
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		kms_adapter_free(a);
		return KMS_ERR_IO;
	}
	arg.a = a;
	arg.fd = sv[1];
	arg.result = KMS_OK;
	if (pthread_create(&th, NULL, serve_thread, &arg) != 0) {
		close(sv[0]);
		close(sv[1]);
		kms_adapter_free(a);
		return KMS_ERR_INTERNAL;
	}
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_PROVISION;
	req.u.provision.client_id_len = 5;
	memcpy(req.u.provision.client_id, "alice", 5);
	req.u.provision.identity_len = strlen(KMS_DEV_ALICE);
	memcpy(req.u.provision.identity, KMS_DEV_ALICE, req.u.provision.identity_len);
	req.u.provision.key_period = d->now_period;
	t0 = now();
	do {
		req.id = (uint32_t)n;
		if ((r = kms_proto_encode_request(buf, sizeof(buf), &len, &req)) != KMS_OK ||
		    (r = kms_proto_frame_write(sv[0], buf, len)) != KMS_OK ||
		    (r = kms_proto_frame_read(sv[0], buf, sizeof(buf), &len)) != KMS_OK ||
		    (r = kms_proto_decode_reply(&rep, buf, len)) != KMS_OK) {
			break;
		}
		if ((r = rep.status) != KMS_OK) {
			break;
		}
		n++;
	} while (now() - t0 < seconds);
	*out = (double)n / (now() - t0);
	close(sv[0]);
	(void)pthread_join(th, NULL);
	kms_adapter_free(a);
	return r;
}

#define HSM_ROUNDS 5

static int
run_hsm(double seconds, enum kms_devtoken_kind kind)
{
	struct kms_devdomain d;
	enum kms_wrap_mode mode = KMS_WRAP_TOKEN;
	double raw = 0, pre = 0, onl = 0, rsk = 0, ecb = 0;
	/* NSS's softoken cannot unwrap the 257-octet RSK: no pre-minted issuer there */
	int preminted = kind == KMS_DEVTOKEN_SOFTHSM;
	double slice = seconds / HSM_ROUNDS;
	int r = KMS_OK;
	int i;

	/* a fresh token and domain in a temporary directory, removed at the end */
	if (kms_devdomain_new_kind(&d, "kms-bench", kind) != 0) {
		fprintf(stderr, "kms-bench: cannot set up a %s token (is %s installed?)\n",
			preminted ? "SoftHSM" : "NSS softoken", preminted ? "softhsm2" : "libnss3");
		(void)kms_devdomain_free(&d);
		return KMS_ERR_HSM_UNAVAIL;
	}
	/*
	 * Interleaved: HSM_ROUNDS rounds of each measurement, so that a machine whose speed drifts
	 * during the run (other tenants, frequency) moves a rate and its reference alike; each
	 * figure is the mean of its rounds.
	 */
	for (i = 0; i < HSM_ROUNDS && r == KMS_OK; i++) {
		double a = 0, b = 0, c = 0, e = 0, g = 0;

		if ((!preminted || ((r = bench_raw_keyset(&d, slice, &a)) == KMS_OK &&
				    (r = bench_provision(&d, KMS_ISSUER_PREMINTED, slice, &b,
							 &mode)) == KMS_OK)) &&
		    (r = bench_provision(&d, KMS_ISSUER_ONLINE, slice, &c, &mode)) == KMS_OK &&
		    (r = bench_rsk_issue(slice, &e)) == KMS_OK &&
		    (mode != KMS_WRAP_HOST_ECB ||
		     (r = bench_ecb_step(&d, slice / 4, &g)) == KMS_OK)) {
			raw += a / HSM_ROUNDS;
			pre += b / HSM_ROUNDS;
			onl += c / HSM_ROUNDS;
			rsk += e / HSM_ROUNDS;
			ecb += g / HSM_ROUNDS;
		}
	}
	(void)kms_devdomain_free(&d);
	if (r != KMS_OK) {
		return r;
	}
	printf("token %s\n", preminted ? "softhsm" : "nss");
	if (preminted) {
		printf("hsm_raw_keyset_per_s %.0f\n", raw);
		printf("preminted_provision_per_s %.0f\n", pre);
	}
	printf("online_provision_per_s %.0f\n", onl);
	printf("rsk_issue_per_s %.0f\n", rsk);
	if (preminted) {
		printf("preminted_vs_raw %.2f\n", raw > 0 ? pre / raw : 0.0);
	}
	printf("online_vs_rsk %.2f\n", rsk > 0 ? onl / rsk : 0.0);
	printf("wrap_mode %s\n", mode == KMS_WRAP_TOKEN ? "token" : "host-ecb");
	if (mode == KMS_WRAP_HOST_ECB && ecb > 0) {
		/* the RSK's RFC 3394 steps, one token call each, one after another: the longest of
		 * the set's values sets the number of calls (kms_wrap_bytes_many) */
		double steps = 6.0 * (double)((KMS_SAKKE_POINT_LEN + 7) / 8);

		printf("ecb_step_per_s %.0f\n", ecb);
		printf("host_ecb_steps_per_set %.0f\n", steps);
		if (onl > 0) {
			printf("host_ecb_share_online %.2f\n", (steps / ecb) * onl);
		}
		if (pre > 0) {
			printf("host_ecb_share_preminted %.2f\n", (steps / ecb) * pre);
		}
	}
	return KMS_OK;
}

static void
usage(FILE *f)
{
	fprintf(f,
		"usage: kms-bench crypto [--seconds S]\n"
		"       kms-bench hsm [--seconds S] [--token softhsm|nss]\n"
		"       kms-bench load --dir DIR [--seconds S] [--connections N] [--kmsd PATH]\n"
		"       kms-bench load --dir DIR --soak MINUTES [--connections N]\n"
		"                      [--rss-bound KB] [--kmsd PATH]\n"
		"       kms-bench selftest\n"
		"\n"
		"selftest: the known-answer tests of the issuing core (RFC 6507 ECCSI, RFC 6508\n"
		"SAKKE, TS 33.180 UID); prints 'selftest ok' or names the failing test, exit 1.\n"
		"\n"
		"crypto: one-thread rates of the MIKEY-SAKKE issuing core, one 'name value' per\n"
		"line: rsk_issue_per_s, ssk_issue_per_s, rsk_validate_per_s, then\n"
		"ref_openssl_mul_per_s (OpenSSL's constant-time [k]P on the same curve, measured\n"
		"in this run) and rsk_issue_vs_ref, their ratio. Each figure is measured for S\n"
		"seconds (default 3, 0.1 to 600). KMS_FP_BACKEND=c forces the portable field\n"
		"arithmetic for comparison.\n"
		"\n"
		"hsm: provisions per second through kms-hsmd's adapter on a throw-away SoftHSM\n"
		"token, per issuer, with the token's raw rate as reference (see the source).\n"
		"--token nss: on an NSS softoken database instead, whose RFC 5649 wrap is exact\n"
		"(the token wraps, no host ECB); online issuer only (docs/tokens.md). In host-ECB\n"
		"mode also ecb_step_per_s (one-block C_EncryptUpdate calls), "
		"host_ecb_steps_per_set\n"
		"and the share of a provision's time they take (host_ecb_share_online, "
		"_preminted).\n"
		"\n"
		"load: starts kmsd (default: build tree's kms/kmsd) on the development domain DIR\n"
		"(kms-devsetup; var/dev) on a free port without rate limits and loads it over N\n"
		"mutual-TLS connections (default 4): handshakes_per_s (a new connection per\n"
		"request), init_per_s and keyprov_per_s (kept-alive), keyprov_vs_init,\n"
		"keyprov_new_conn_per_s (a new connection per keyprov) and\n"
		"keyprov_new_conn_vs_handshakes, the domain's issuer; per phase the CPU ms per\n"
		"request of kmsd, its kms-hsmd and the bench (<phase>_cpu_ms_kmsd, _hsmd,\n"
		"_client), keyprov_vs_init_cpu (the ratio if both phases were CPU-bound); errors.\n"
		"\n"
		"load --soak: the same kmsd for MINUTES (fractional, 0.1 to 1440) under a mix of\n"
		"good requests (keyprov, keyprov/<uri>/<ntp>, init, certcache) and bad ones that\n"
		"must be refused (403, 400, 404, 400); a line every 10 s (t_s, req_per_s, errors\n"
		"so far), then requests, good_errors, bad_mismatches and the RSS of kmsd and of\n"
		"its kms-hsmd (summed) after a warm-up and at the end. Exit 0 only without errors\n"
		"or mismatches and with each RSS growth within KB KiB (default 20480).\n"
		"\n"
		"options:\n"
		"  --seconds S        how long each figure is measured (default 3, 0.1 to 600)\n"
		"  --dir DIR          the development domain (kms-devsetup --dir DIR)\n"
		"  --connections N    concurrent mutual-TLS connections of load (default 4)\n"
		"  --kmsd PATH        the kmsd to start (default: the build tree's kms/kmsd)\n"
		"  --soak MINUTES     run load as a soak test for MINUTES\n"
		"  --rss-bound KB     the RSS growth a soak allows per process (default 20480)\n"
		"  -h, --help         this text\n"
		"\n"
		"exit status: 0 done (selftest ok, soak within its bounds); 1 a known-answer test\n"
		"failed, a measurement could not run, or the soak saw errors, mismatches or RSS\n"
		"growth; 2 usage.\n"
		"\n"
		"documentation: README.md, section \"Speed\", in the source tree.\n");
}

/* kmsd of the build tree: ../kms/kmsd from this program's directory. */
static void
default_kmsd(char *out, size_t cap)
{
	char self[2048];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	snprintf(out, cap, "kmsd");
	if (n <= 0) {
		return;
	}
	self[n] = '\0';
	if ((slash = strrchr(self, '/')) != NULL) {
		*slash = '\0';
		snprintf(out, cap, "%s/../kms/kmsd", self);
	}
}

static int
parse_seconds(const char *s, double *out)
{
	char *end = NULL;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0.1 && v <= 600.0)) {
		return KMS_ERR_RANGE;
	}
	*out = v;
	return KMS_OK;
}

int
main(int argc, char **argv)
{
	double seconds = 3.0;
	enum kms_devtoken_kind kind = KMS_DEVTOKEN_SOFTHSM;
	double rsk = 0, ssk = 0, val = 0, ref = 0;
	int r;
	int i;

	if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
		usage(stdout);
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "selftest") == 0) {
		const char *failed = NULL;

		if (kms_harden_process() != KMS_OK || kms_mikey_selftest(&failed) != KMS_OK) {
			fprintf(stderr, "kms-bench: self-test failed: %s\n",
				failed != NULL ? failed : "process hardening");
			return 1;
		}
		printf("selftest ok\n");
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "load") == 0) {
		const char *dir = NULL;
		char kmsd[4096];
		uint64_t conns = 4;
		uint64_t rss_bound = 20480;
		double soak = 0.0;

		default_kmsd(kmsd, sizeof(kmsd));
		for (i = 2; i < argc; i++) {
			if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
				dir = argv[++i];
			} else if (strcmp(argv[i], "--kmsd") == 0 && i + 1 < argc) {
				snprintf(kmsd, sizeof(kmsd), "%s", argv[++i]);
			} else if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
				if (parse_seconds(argv[++i], &seconds) != KMS_OK) {
					fprintf(stderr, "kms-bench: --seconds wants a number from "
							"0.1 to 600\n");
					return 2;
				}
			} else if (strcmp(argv[i], "--soak") == 0 && i + 1 < argc) {
				char *end = NULL;
				errno = 0;
				soak = strtod(argv[++i], &end);
				if (errno != 0 || end == argv[i] || *end != '\0' ||
				    !(soak >= 0.1 && soak <= 1440.0)) {
					fprintf(stderr, "kms-bench: --soak wants minutes from 0.1 "
							"to 1440\n");
					return 2;
				}
			} else if (strcmp(argv[i], "--rss-bound") == 0 && i + 1 < argc) {
				i++;
				if (kms_conf_decimal(argv[i], strlen(argv[i]), 1024ul * 1024 * 1024,
						     &rss_bound) != KMS_OK) {
					fprintf(stderr,
						"kms-bench: --rss-bound wants KiB from 0 to "
						"1073741824\n");
					return 2;
				}
			} else if (strcmp(argv[i], "--connections") == 0 && i + 1 < argc) {
				i++;
				if (kms_conf_decimal(argv[i], strlen(argv[i]), 64, &conns) !=
					    KMS_OK ||
				    conns < 1) {
					fprintf(stderr, "kms-bench: --connections wants 1 to 64\n");
					return 2;
				}
			} else {
				usage(stderr);
				return 2;
			}
		}
		if (dir == NULL) {
			usage(stderr);
			return 2;
		}
		if (soak > 0.0) {
			return kms_bench_soak(dir, kmsd, soak, (unsigned int)conns,
					      (unsigned long)rss_bound);
		}
		return kms_bench_load(dir, kmsd, seconds, (unsigned int)conns);
	}
	if (argc < 2 || (strcmp(argv[1], "crypto") != 0 && strcmp(argv[1], "hsm") != 0)) {
		usage(stderr);
		return 2;
	}
	for (i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--seconds") == 0 && i + 1 < argc) {
			if (parse_seconds(argv[++i], &seconds) != KMS_OK) {
				fprintf(stderr,
					"kms-bench: --seconds wants a number from 0.1 to 600\n");
				return 2;
			}
		} else if (strcmp(argv[1], "hsm") == 0 && strcmp(argv[i], "--token") == 0 &&
			   i + 1 < argc) {
			i++;
			if (strcmp(argv[i], "softhsm") == 0) {
				kind = KMS_DEVTOKEN_SOFTHSM;
			} else if (strcmp(argv[i], "nss") == 0) {
				kind = KMS_DEVTOKEN_NSS;
			} else {
				fprintf(stderr, "kms-bench: --token is softhsm or nss\n");
				return 2;
			}
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (kms_harden_process() != KMS_OK) {
		fprintf(stderr, "kms-bench: cannot harden the process\n");
		return 1;
	}
	if (strcmp(argv[1], "hsm") == 0) {
		kms_log_init("kms-bench", KMS_LOG_WARN);
		if ((r = run_hsm(seconds, kind)) != KMS_OK) {
			fprintf(stderr, "kms-bench: %s\n", kms_strerror(r));
			return 1;
		}
		return 0;
	}
	if ((r = bench_rsk_issue(seconds, &rsk)) != KMS_OK ||
	    (r = bench_ssk_issue(seconds, &ssk)) != KMS_OK ||
	    (r = bench_rsk_validate(seconds, &val)) != KMS_OK ||
	    (r = bench_reference(seconds, &ref)) != KMS_OK) {
		fprintf(stderr, "kms-bench: %s\n", kms_strerror(r));
		return 1;
	}
	printf("rsk_issue_per_s %.0f\n", rsk);
	printf("ssk_issue_per_s %.0f\n", ssk);
	printf("rsk_validate_per_s %.1f\n", val);
	printf("ref_openssl_mul_per_s %.0f\n", ref);
	printf("rsk_issue_vs_ref %.2f\n", ref > 0 ? rsk / ref : 0.0);
	printf("fp_backend %s\n", kms_mont_mul16_backend());
	return 0;
}
