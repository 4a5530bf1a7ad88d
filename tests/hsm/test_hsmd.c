/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The kms-hsmd program itself (hsm/hsmd.c): its configuration file and messages, the start-up
 * checks (--check), and serving a socketpair end it inherits, as kmsd will start it; SIGTERM
 * ends it cleanly. KMS_TEST_HSMD names the binary (tests/hsm/CMakeLists.txt).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "hsm/keys.h"
#include "proto/frame.h"
#include "proto/store.h"
#include "tests/unit/kms_test.h"
#include "tools/devdomain.h"

#include "common/banned.h"

static struct kms_devdomain dom;
static char good[160];

static int
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f == NULL) {
		return -1;
	}
	fputs(text, f);
	return fclose(f);
}

/* The configuration of the domain; extra lines are appended. */
static int
write_conf(const char *path, const char *extra)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "# kms-hsmd for the test domain\n"
		 "module = %s\n"
		 "token = pkcs11:token=kms-hsmd-test\n"
		 "pin_file = %s\n"
		 "kek = %s\n"
		 "store = %s\n"
		 "%s",
		 kms_devtoken_module(), dom.tok.pin_path, KMS_DEV_KEK, dom.tok.store_path, extra);
	return write_file(path, text);
}

static int
suite_init(void)
{
	if (getenv("KMS_TEST_HSMD") == NULL || kms_devdomain_new(&dom, "kms-hsmd-test") != 0) {
		return 1;
	}
	snprintf(good, sizeof(good), "%s/good.conf", dom.tok.dir);
	return write_conf(good, "issuer = online\nallow_host_ecb_wrap = yes\n");
}

static int
suite_cleanup(void)
{
	return kms_devdomain_free(&dom) == 0 ? 0 : 1;
}

/* Run kms-hsmd with args; its exit status, its stderr and stdout in err (cap bytes). */
static int
run_hsmd(const char *args, char *err, size_t cap)
{
	char cmd[1024];
	char errf[160];
	FILE *f;
	size_t n;
	int st;

	snprintf(errf, sizeof(errf), "%s/hsmd.out", dom.tok.dir);
	snprintf(cmd, sizeof(cmd), "%s %s >%s 2>&1", getenv("KMS_TEST_HSMD"), args, errf);
	st = system(cmd);
	err[0] = '\0';
	f = fopen(errf, "r");
	if (f != NULL) {
		n = fread(err, 1, cap - 1, f);
		err[n] = '\0';
		fclose(f);
	}
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void
test_check_and_configuration(void)
{
	char out[8192];
	char args[512];
	char path[160];

	snprintf(args, sizeof(args), "-c %s --check", good);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "ready to serve"));
	/* SoftHSM's RFC 5649 defect without the development allowance: refused, and said why */
	snprintf(path, sizeof(path), "%s/strict.conf", dom.tok.dir);
	CU_ASSERT_EQUAL(write_conf(path, ""), 0);
	snprintf(args, sizeof(args), "-c %s --check", path);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "pads wrongly"));
	/* tls_key naming a key pair the token does not hold: a failed start-up check, said why */
	snprintf(path, sizeof(path), "%s/tlskey.conf", dom.tok.dir);
	CU_ASSERT_EQUAL(write_conf(path, "allow_host_ecb_wrap = yes\ntls_key = no.such.tls\n"), 0);
	snprintf(args, sizeof(args), "-c %s --check", path);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "tls_key: no usable EC P-256 key pair labelled "
					   "'no.such.tls'"));
	CU_ASSERT_PTR_NULL(strstr(out, "ready to serve"));
	/* a typo in a key: file:line and a suggestion */
	snprintf(path, sizeof(path), "%s/typo.conf", dom.tok.dir);
	CU_ASSERT_EQUAL(write_conf(path, "isuer = online\n"), 0);
	snprintf(args, sizeof(args), "-c %s --check", path);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "typo.conf:7:"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "issuer"));
	/* a bad value */
	CU_ASSERT_EQUAL(write_conf(path, "issuer = onlin\n"), 0);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "typo.conf:7:"));
	/* both PIN sources */
	CU_ASSERT_EQUAL(write_conf(path, "pin_credential = kms-pin\nallow_host_ecb_wrap = yes\n"),
			0);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "exactly one of pin_file and pin_credential"));
	/* environment: set for the module before it loads (SoftHSM then reads another, missing,
	 * configuration file and finds no token); a NAME that is no identifier is refused */
	CU_ASSERT_EQUAL(write_conf(path,
				   "allow_host_ecb_wrap = yes\n"
				   "environment = SOFTHSM2_CONF=/nonexistent/softhsm2.conf\n"),
			0);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 3);
	CU_ASSERT_EQUAL(write_conf(path, "allow_host_ecb_wrap = yes\nenvironment = 1BAD=x\n"), 0);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 2);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "NAME=VALUE"));
	/* a token that is not there */
	CU_ASSERT_EQUAL(write_file(path, ""), 0);
	snprintf(args, sizeof(args), "-c %s --check", path);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 2); /* missing required keys */
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "missing required key"));
	/* the shipped example parses: it gets as far as looking for its token (exit 3, not 2) */
	if (getenv("KMS_SOURCE_DIR") != NULL) {
		snprintf(args, sizeof(args), "-c %s/deploy/kms-hsmd.conf.example --check",
			 getenv("KMS_SOURCE_DIR"));
		CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 3);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "kms-dev"));
		/* and so does the network-HSM example: as far as loading its (absent) module */
		snprintf(args, sizeof(args),
			 "-c %s/deploy/kms-hsmd.network-hsm.conf.example --check",
			 getenv("KMS_SOURCE_DIR"));
		CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 3);
		CU_ASSERT_PTR_NOT_NULL(strstr(out, "/opt/hsm-client/lib/libpkcs11.so"));
	} else {
		CU_FAIL("KMS_SOURCE_DIR is not set");
	}
	/* the command line */
	CU_ASSERT_EQUAL(run_hsmd("--check", out, sizeof(out)), 2);
	snprintf(args, sizeof(args), "-c %s --fd 1", good);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 2);
	snprintf(args, sizeof(args), "-c %s --fd 77 --check", good);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 2);
	CU_ASSERT_EQUAL(run_hsmd("--help", out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "usage: kms-hsmd"));
}

/*
 * Start kms-hsmd with the configuration conf on one end of a socketpair, as fd 3; *out_fd is
 * our end. Its stderr goes to errpath if not NULL.
 */
static pid_t
start_hsmd_with(int *out_fd, const char *conf, const char *errpath)
{
	int sv[2];
	pid_t pid;

	/*
	 * Both ends close on exec; dup2 gives the child's end a copy without the flag as fd 3.
	 * Our end must not survive into the child, or closing it would never reach kms-hsmd as
	 * an end of file (kmsd must start it the same way).
	 */
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		/* dup2(3, 3) would keep the flag: clear it by hand in that case */
		if (sv[1] == 3 ? fcntl(3, F_SETFD, 0) != 0 : dup2(sv[1], 3) != 3) {
			_exit(127);
		}
		if (errpath != NULL) {
			int efd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC, 0600);

			if (efd < 0 || dup2(efd, 2) != 2) {
				_exit(127);
			}
		}
		execl(getenv("KMS_TEST_HSMD"), "kms-hsmd", "-c", conf, "--fd", "3", (char *)NULL);
		_exit(127);
	}
	close(sv[1]);
	*out_fd = sv[0];
	return pid;
}

static pid_t
start_hsmd(int *out_fd)
{
	return start_hsmd_with(out_fd, good, NULL);
}

static int
roundtrip(int fd, const struct kms_proto_request *req, struct kms_proto_reply *rep)
{
	static uint8_t buf[KMS_MAX_IPC];
	size_t len = 0;

	if (kms_proto_encode_request(buf, sizeof(buf), &len, req) != KMS_OK ||
	    kms_proto_frame_write(fd, buf, len) != KMS_OK ||
	    kms_proto_frame_read(fd, buf, sizeof(buf), &len) != KMS_OK) {
		return -1;
	}
	return kms_proto_decode_reply(rep, buf, len) == KMS_OK ? 0 : -1;
}

static void
test_serve_as_kmsd_starts_it(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	int fd = -1;
	int st = 0;
	pid_t pid = start_hsmd(&fd);

	CU_ASSERT_FATAL(pid > 0);
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_HEALTH;
	req.id = 1;
	CU_ASSERT_EQUAL(roundtrip(fd, &req, &rep), 0);
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(rep.u.health.token_present);
	CU_ASSERT_STRING_EQUAL(rep.u.health.issuer, "online");
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_PROVISION;
	req.id = 2;
	req.u.provision.client_id_len = 5;
	memcpy(req.u.provision.client_id, "alice", 5);
	req.u.provision.identity_len = strlen(KMS_DEV_ALICE);
	memcpy(req.u.provision.identity, KMS_DEV_ALICE, req.u.provision.identity_len);
	req.u.provision.key_period = dom.now_period;
	CU_ASSERT_EQUAL(roundtrip(fd, &req, &rep), 0);
	CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
	CU_ASSERT_EQUAL(rep.id, 2);
	CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk, dom.alice_ink,
					      KMS_DEV_ALICE, NULL, NULL));
	/* SIGTERM: a clean end (exit 0), the master secrets wiped on the way out */
	CU_ASSERT_EQUAL(kill(pid, SIGTERM), 0);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	close(fd);

	/* kmsd closing its end also ends it cleanly */
	pid = start_hsmd(&fd);
	CU_ASSERT_FATAL(pid > 0);
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_CERTIFICATE;
	req.id = 3;
	CU_ASSERT_EQUAL(roundtrip(fd, &req, &rep), 0);
	CU_ASSERT_EQUAL(rep.status, KMS_OK);
	CU_ASSERT(memcmp(rep.u.certificate.z_t, dom.zpub, sizeof(dom.zpub)) == 0);
	close(fd);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);

	/* a malformed frame: it stops serving with status 1 (kmsd restarts it) */
	pid = start_hsmd(&fd);
	CU_ASSERT_FATAL(pid > 0);
	{
		uint8_t junk[8] = {0, 0, 0, 4, 0xc1, 0xc1, 0xc1, 0xc1};

		CU_ASSERT_EQUAL(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	}
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 1);
	close(fd);
}

/* Whether the token holds a secret key labelled label (through the test's own module). */
static int
token_has(const char *label)
{
	struct kms_p11_session *s = NULL;
	CK_OBJECT_HANDLE h;
	int r;

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	r = kms_keys_find(s, &h, label);
	kms_p11_return(s);
	return r == KMS_OK;
}

/*
 * Retired client keys: --check leaves them in the token (a check changes nothing); a kms-hsmd
 * that starts to serve destroys them. The keys are bob's cancelled rotation, made here: a TrK
 * and an InK in the token, the rotation stored and cancelled through the store's API.
 */
static void
test_retired_keys_at_start(void)
{
	struct kms_wrap_policy pol = {dom.kwp, KMS_WRAP_TOKEN};
	struct kms_store_rotation rot;
	struct kms_store_client bob;
	struct kms_p11_session *s = NULL;
	struct kms_store *st = NULL;
	CK_OBJECT_HANDLE trk, ink;
	char out[8192], args[512];
	int fd = -1, status;
	pid_t pid;

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(dom.tok.p11, &s), KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_generate(s, &trk, KMS_KEY_TRK, "tk.cancelled.bob", &pol, 0, 0),
			KMS_OK);
	CU_ASSERT_EQUAL(kms_keys_generate(s, &ink, KMS_KEY_INK, "ik.cancelled.bob", &pol, 0, 0),
			KMS_OK);
	kms_p11_return(s);
	CU_ASSERT_EQUAL_FATAL(kms_store_open(&st, dom.tok.store_path, KMS_STORE_RW), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_store_get_client(st, "bob", &bob), KMS_OK);
	memset(&rot, 0, sizeof(rot));
	snprintf(rot.client_id, sizeof(rot.client_id), "bob");
	snprintf(rot.from_trk_label, sizeof(rot.from_trk_label), "%s", bob.trk_label);
	snprintf(rot.new_trk_label, sizeof(rot.new_trk_label), "tk.cancelled.bob");
	snprintf(rot.new_ink_label, sizeof(rot.new_ink_label), "ik.cancelled.bob");
	rot.new_trk.len = rot.new_ink.len = 40;
	memset(rot.new_trk.data, 1, 40);
	memset(rot.new_ink.data, 2, 40);
	CU_ASSERT_EQUAL(kms_store_put_rotation(st, &rot, &rot.new_trk, &rot.new_ink), KMS_OK);
	CU_ASSERT_EQUAL(kms_store_cancel_rotation(st, "bob"), KMS_OK);
	kms_store_close(st);
	CU_ASSERT(token_has("tk.cancelled.bob"));

	snprintf(args, sizeof(args), "-c %s --check", good);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 0);
	CU_ASSERT(token_has("tk.cancelled.bob"));
	CU_ASSERT(token_has("ik.cancelled.bob"));

	pid = start_hsmd(&fd);
	CU_ASSERT_FATAL(pid > 0);
	{
		struct kms_proto_request req;
		struct kms_proto_reply rep;

		memset(&req, 0, sizeof(req));
		req.op = KMS_PROTO_CERTIFICATE; /* it answers: its start is over */
		CU_ASSERT_EQUAL(roundtrip(fd, &req, &rep), 0);
		CU_ASSERT_EQUAL(rep.status, KMS_OK);
	}
	close(fd);
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(!token_has("tk.cancelled.bob"));
	CU_ASSERT(!token_has("ik.cancelled.bob"));
	CU_ASSERT(token_has(bob.trk_label)); /* bob's own key stays */
}

/*
 * SoftHSM keeps the memory of destroyed session objects until C_Finalize: kms-hsmd restarts the
 * module every recycle_after objects, between requests. With a tiny threshold, provisioning
 * goes on correctly across many restarts (the cached key copies are remade each time).
 */
static void
test_recycling_keeps_serving(void)
{
	struct kms_proto_request req;
	struct kms_proto_reply rep;
	char conf[160], errpath[160];
	static char log[1 << 16];
	FILE *f;
	size_t n;
	const char *p;
	int inits = 0;
	int fd = -1;
	int st = 0;
	int i;
	pid_t pid;

	snprintf(conf, sizeof(conf), "%s/recycle.conf", dom.tok.dir);
	snprintf(errpath, sizeof(errpath), "%s/recycle.err", dom.tok.dir);
	CU_ASSERT_EQUAL_FATAL(write_conf(conf, "allow_host_ecb_wrap = yes\nrecycle_after = 10\n"),
			      0);
	pid = start_hsmd_with(&fd, conf, errpath);
	CU_ASSERT_FATAL(pid > 0);
	memset(&req, 0, sizeof(req));
	req.op = KMS_PROTO_PROVISION;
	req.u.provision.client_id_len = 5;
	memcpy(req.u.provision.client_id, "alice", 5);
	req.u.provision.identity_len = strlen(KMS_DEV_ALICE);
	memcpy(req.u.provision.identity, KMS_DEV_ALICE, req.u.provision.identity_len);
	req.u.provision.key_period = dom.now_period;
	for (i = 0; i < 60; i++) {
		req.id = (uint32_t)i;
		CU_ASSERT_EQUAL_FATAL(roundtrip(fd, &req, &rep), 0);
		CU_ASSERT_EQUAL_FATAL(rep.status, KMS_OK);
		if (i % 10 == 9) {
			CU_ASSERT(kms_devdomain_client_checks(&dom, &rep.u.provision, dom.alice_trk,
							      dom.alice_ink, KMS_DEV_ALICE, NULL,
							      NULL));
		}
	}
	close(fd);
	CU_ASSERT_EQUAL(waitpid(pid, &st, 0), pid);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* each initialisation of the module logs the token it found */
	f = fopen(errpath, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	n = fread(log, 1, sizeof(log) - 1, f);
	log[n] = '\0';
	fclose(f);
	for (p = log; (p = strstr(p, "p11: token \"kms-hsmd-test\"")) != NULL; p++) {
		inits++;
	}
	CU_ASSERT(inits >= 4); /* the first, and at least three recycles */
}

/* ---- kms-hsmd on an NSS softoken database (docs/tokens.md) ---- */

static int
nss_init(void)
{
	if (getenv("KMS_TEST_HSMD") == NULL || kms_devtoken_nss_module() == NULL) {
		return 0; /* its test says why it has nothing to do */
	}
	return kms_devdomain_new_kind(&dom, "kms-hsmd-nss", KMS_DEVTOKEN_NSS) == 0 ? 0 : 1;
}

/* The configuration of the NSS domain; extra lines are appended. */
static int
write_nss_conf(const char *path, int with_params, const char *extra)
{
	char text[2048];

	snprintf(text, sizeof(text),
		 "module = %s\n"
		 "%s%s%s"
		 "token = pkcs11:token=kms-hsmd-nss\n"
		 "pin_file = %s\n"
		 "kek = %s\n"
		 "store = %s\n"
		 "wrap_mechanism = 0x210b\n"
		 "%s",
		 kms_devtoken_nss_module(), with_params ? "module_params = " : "",
		 with_params ? dom.tok.params : "", with_params ? "\n" : "", dom.tok.pin_path,
		 KMS_DEV_KEK, dom.tok.store_path, extra);
	return write_file(path, text);
}

/*
 * --check with NSS's softoken: module_params reaches the module, the token wraps (no
 * allow_host_ecb_wrap needed), the online issuer would serve; the pre-minted one would not
 * (257-octet RSK), and without module_params the module does not start.
 */
static void
test_check_on_nss(void)
{
	char path[200], args[300], out[8192];

	if (dom.tok.p11 == NULL) {
		fprintf(stderr, "test_hsmd: NSS's softoken is not installed: nothing checked\n");
		return;
	}
	snprintf(path, sizeof(path), "%s/nss.conf", dom.tok.dir);
	snprintf(args, sizeof(args), "-c %s --check", path);
	CU_ASSERT_EQUAL_FATAL(write_nss_conf(path, 1, "issuer = online\n"), 0);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 0);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "wrap by the token"));
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "does not enforce CKA_ALLOWED_MECHANISMS"));
	CU_ASSERT_EQUAL_FATAL(write_nss_conf(path, 1, "issuer = pre-minted\n"), 0);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "use the online issuer"));
	CU_ASSERT_EQUAL_FATAL(write_nss_conf(path, 0, "issuer = online\n"), 0);
	CU_ASSERT_EQUAL(run_hsmd(args, out, sizeof(out)), 3);
	CU_ASSERT_PTR_NOT_NULL(strstr(out, "C_Initialize"));
}

static CU_TestInfo nss_tests[] = {
	{"--check on an NSS softoken database", test_check_on_nss},
	CU_TEST_INFO_NULL,
};

static CU_TestInfo hsmd_tests[] = {
	{"--check, configuration errors, command line", test_check_and_configuration},
	{"serving a socketpair end; SIGTERM; bad frames", test_serve_as_kmsd_starts_it},
	{"recycling the module keeps serving correctly", test_recycling_keeps_serving},
	{"retired keys: kept by --check, destroyed when serving", test_retired_keys_at_start},
	CU_TEST_INFO_NULL,
};

static CU_SuiteInfo suites[] = {
	{"kms-hsmd", suite_init, suite_cleanup, NULL, NULL, hsmd_tests},
	{"kms-hsmd on NSS's softoken", nss_init, suite_cleanup, NULL, NULL, nss_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
