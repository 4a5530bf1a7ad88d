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

static int
suite_init(void)
{
	struct kms_adapter_config cfg;

	if (kms_devdomain_new(&dom, "kms-adapter-test") != 0) {
		return 1;
	}
	memset(&cfg, 0, sizeof(cfg));
	cfg.store_path = dom.tok.store_path;
	cfg.kek_label = KMS_DEV_KEK;
	cfg.issuer = KMS_ISSUER_ONLINE;
	cfg.id_format = KMS_ID_RAW;
	cfg.kwp = CKM_AES_KEY_WRAP_PAD;
	cfg.allow_host_ecb = 1;
	cfg.future_periods = 1;
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
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	/* bob unwraps his new keys with his current TrK */
	CU_ASSERT_EQUAL(kms_devdomain_client_unwrap(dom.bob_trk, rep.u.rotate_keys.new_trk_wrapped,
						    rep.u.rotate_keys.new_trk_wrapped_len, new_trk),
			32);
	CU_ASSERT_EQUAL(kms_devdomain_client_unwrap(dom.bob_trk, rep.u.rotate_keys.new_ink_wrapped,
						    rep.u.rotate_keys.new_ink_wrapped_len, new_ink),
			32);
	CU_ASSERT(strncmp(rep.u.rotate_keys.new_trk_id, "tk.", 3) == 0);
	/* from now on his key sets come under the new keys */
	provision_req(&req, "bob", BOB, dom.now_period);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT(strncmp(rep.u.provision.trk_id, "tk.", 3) == 0 &&
		  strcmp(rep.u.provision.trk_id, "tk.0.bob") != 0);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, new_trk, new_ink, BOB, NULL,
					      NULL));
	CU_ASSERT(!kms_devdomain_client_checks(&dom, &rep.u.provision, dom.bob_trk, dom.bob_ink,
					       BOB, NULL, NULL));
	/* an unknown client gets nothing */
	req.op = KMS_PROTO_ROTATE_KEYS;
	req.u.rotate_keys.client_id_len = 7;
	memcpy(req.u.rotate_keys.client_id, "mallory", 8);
	kms_adapter_handle(online, &req, &rep, kms_devdomain_ntp_now());
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
	{"entitlements and key periods", test_entitlements_and_periods},
	{"certificate and health", test_certificate_and_health},
	{"TrK/InK rotation", test_rotation},
	{"the frame loop: good, refused, bad and oversized frames", test_serve_frames},
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
