/* SPDX-License-Identifier: Apache-2.0 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "common/log.h"
#include "common/secmem.h"
#include "hsm/p11.h"
#include "hsm/p11uri.h"
#include "tests/unit/kms_test.h"

#include "common/banned.h"

/*
 * hsm/p11.c against SoftHSMv2. The fixture (softhsm-fixture, FIXTURES_SETUP) made a token
 * directory with two tokens, "kms-test" (user PIN in $KMS_TEST_HSM_DIR/user.pin) and
 * "kms-spare", and set SOFTHSM2_CONF. The tests rename kms-test's directory away and back to
 * simulate a token that is pulled and plugged in again.
 */

#define SENTINEL "S3nt1nel-wrong-PIN-41d7"
#define URI      "pkcs11:token=kms-test"

static const char *hsm_dir; /* $KMS_TEST_HSM_DIR */
static const char *module;  /* $KMS_TEST_HSM_MODULE */
static char pin_file[PATH_MAX / 2];
static char token_path[PATH_MAX / 2]; /* kms-test's token directory */
static char away_path[PATH_MAX / 2];  /* where it goes when "removed" */
static char log_path[PATH_MAX / 2];
static int logfd = -1;

static int
suite_init(void)
{
	char name[128];
	FILE *f;
	size_t n;

	hsm_dir = getenv("KMS_TEST_HSM_DIR");
	module = getenv("KMS_TEST_HSM_MODULE");
	if (hsm_dir == NULL || module == NULL || getenv("SOFTHSM2_CONF") == NULL) {
		fprintf(stderr, "run through ctest: the softhsm fixture sets the environment\n");
		return 1;
	}
	(void)snprintf(pin_file, sizeof(pin_file), "%s/user.pin", hsm_dir);
	(void)snprintf(log_path, sizeof(log_path), "%s/test.log", hsm_dir);
	(void)snprintf(away_path, sizeof(away_path), "%s/away", hsm_dir);
	(void)snprintf(name, sizeof(name), "%s/kms-test.dir", hsm_dir);
	f = fopen(name, "r");
	if (f == NULL || fgets(name, sizeof(name), f) == NULL) {
		return 1;
	}
	fclose(f);
	n = strcspn(name, "\n");
	name[n] = '\0';
	(void)snprintf(token_path, sizeof(token_path), "%s/tokens/%s", hsm_dir, name);
	logfd = kms_test_log_capture(log_path, "test_hsm_p11");
	return logfd < 0;
}

static int
suite_cleanup(void)
{
	kms_test_log_release(logfd);
	logfd = -1;
	/* a failed test must not leave the token away */
	(void)rename(away_path, token_path);
	return 0;
}

/* How often needle occurs in text. */
static size_t
count_of(const char *text, const char *needle)
{
	size_t n = 0;

	while ((text = strstr(text, needle)) != NULL) {
		n++;
		text++;
	}
	return n;
}

static void
log_reset(void)
{
	CU_ASSERT(ftruncate(logfd, 0) == 0);
}

/* The log since log_reset(), NUL-terminated, in a static buffer. */
static const char *
log_text(void)
{
	static char buf[256 * 1024];

	(void)kms_test_read_fd(logfd, buf, sizeof(buf));
	return buf;
}

static void
config(struct kms_p11_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->module_path = module;
	cfg->token_uri = URI;
	cfg->pin_file = pin_file;
	cfg->num_sessions = 2;
	cfg->borrow_ms = 5000;
	cfg->retry_ms = 20;
}

static struct kms_p11 *
open_ok(const struct kms_p11_config *cfg)
{
	struct kms_p11 *p = NULL;
	int r = kms_p11_new(&p, cfg);

	if (r != KMS_OK) {
		fprintf(stderr, "\nkms_p11_new: %s\n%s", kms_err_name(r), log_text());
	}
	CU_ASSERT_EQUAL_FATAL(r, KMS_OK);
	CU_ASSERT_PTR_NOT_NULL_FATAL(p);
	return p;
}

static void
token_away(void)
{
	CU_ASSERT_EQUAL_FATAL(rename(token_path, away_path), 0);
}

static void
token_back(void)
{
	CU_ASSERT_EQUAL_FATAL(rename(away_path, token_path), 0);
}

static void
sleep_ms(unsigned int ms)
{
	struct timespec ts = {(time_t)(ms / 1000u), (long)(ms % 1000u) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
	}
}

static const CK_MECHANISM_TYPE allowed_mechs[] = {CKM_AES_CBC_PAD, CKM_AES_KEY_WRAP_PAD};

/* A session AES-256 key: sensitive, not extractable, limited to allowed_mechs. */
static int
gen_key(struct kms_p11_session *s, CK_OBJECT_HANDLE *out, CK_BBOOL on_token)
{
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_ULONG len = 32;
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_BYTE id[] = {0x01, 0x02};
	char label[] = "kms-test-key";
	CK_MECHANISM_TYPE mechs[sizeof(allowed_mechs) / sizeof(allowed_mechs[0])];
	CK_ATTRIBUTE t[] = {
		{CKA_CLASS, &cls, sizeof(cls)},
		{CKA_KEY_TYPE, &kt, sizeof(kt)},
		{CKA_VALUE_LEN, &len, sizeof(len)},
		{CKA_TOKEN, &on_token, sizeof(on_token)},
		{CKA_PRIVATE, &yes, sizeof(yes)},
		{CKA_SENSITIVE, &yes, sizeof(yes)},
		{CKA_EXTRACTABLE, &no, sizeof(no)},
		{CKA_ENCRYPT, &yes, sizeof(yes)},
		{CKA_DECRYPT, &yes, sizeof(yes)},
		{CKA_WRAP, &yes, sizeof(yes)},
		{CKA_ALLOWED_MECHANISMS, mechs, sizeof(mechs)},
		{CKA_LABEL, label, sizeof(label) - 1},
		{CKA_ID, id, sizeof(id)},
	};
	CK_MECHANISM m = {CKM_AES_KEY_GEN, NULL, 0};

	memcpy(mechs, allowed_mechs, sizeof(mechs));
	return kms_p11_generate_key(s, out, &m, t, sizeof(t) / sizeof(t[0]));
}

/* AES-CBC-PAD of one block under key: an operation that needs the key to work. */
static int
encrypt_block(struct kms_p11_session *s, CK_OBJECT_HANDLE key)
{
	CK_BYTE iv[16] = {0}, in[16] = {1}, out[48];
	CK_ULONG out_len = sizeof(out);
	CK_MECHANISM m = {CKM_AES_CBC_PAD, iv, sizeof(iv)};
	CK_FUNCTION_LIST *fn = kms_p11_fn(s);
	int r;

	r = kms_p11_check(s, fn->C_EncryptInit(kms_p11_handle(s), &m, key), "C_EncryptInit");
	if (r != KMS_OK) {
		return r;
	}
	r = kms_p11_check(s, fn->C_Encrypt(kms_p11_handle(s), in, sizeof(in), out, &out_len),
			  "C_Encrypt");
	if (r == KMS_OK && out_len != 32) {
		r = KMS_ERR_INTERNAL;
	}
	return r;
}

/* How many objects the object part of uri selects (C_FindObjectsInit with its template). */
static int
count_objects(struct kms_p11_session *s, const char *uri, CK_OBJECT_HANDLE *first)
{
	struct kms_p11uri u;
	CK_ATTRIBUTE t[KMS_P11URI_MAX_TEMPLATE];
	CK_OBJECT_HANDLE found[8];
	CK_ULONG num_t, num = 0;
	CK_FUNCTION_LIST *fn = kms_p11_fn(s);

	CU_ASSERT_EQUAL_FATAL(kms_p11uri_parse(&u, NULL, uri, strlen(uri)), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_p11uri_object_template(&u, t, &num_t), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(
		kms_p11_check(s, fn->C_FindObjectsInit(kms_p11_handle(s), t, num_t), "init"),
		KMS_OK);
	CU_ASSERT_EQUAL(
		kms_p11_check(s, fn->C_FindObjects(kms_p11_handle(s), found, 8, &num), "find"),
		KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_check(s, fn->C_FindObjectsFinal(kms_p11_handle(s)), "final"),
			KMS_OK);
	if (num > 0 && first != NULL) {
		*first = found[0];
	}
	return (int)num;
}

/* ---- the key, its attributes read back, object search by URI ---- */

static void
test_key_attributes(void)
{
	struct kms_p11_config cfg;
	struct kms_p11_stats st;
	struct kms_p11 *p;
	struct kms_p11_session *s;
	CK_OBJECT_HANDLE key, data, h = CK_INVALID_HANDLE;
	CK_MECHANISM_TYPE mechs[8];
	CK_ULONG ul;
	uint8_t buf[64];
	size_t len;
	int b;

	config(&cfg);
	p = open_ok(&cfg);
	kms_p11_get_stats(p, &st);
	CU_ASSERT_EQUAL(st.generation, 1);
	CU_ASSERT_EQUAL(st.available, 1);
	CU_ASSERT_EQUAL(st.sessions_out, 0);

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	/* SoftHSM enforces both restricting attributes (probed at start): templates keep them */
	CU_ASSERT_EQUAL(kms_p11_enforces(s),
			KMS_P11_ENFORCES_ALLOWED_MECHS | KMS_P11_ENFORCES_WRAP_TEMPLATES);
	CU_ASSERT_EQUAL_FATAL(gen_key(s, &key, CK_FALSE), KMS_OK);
	CU_ASSERT_NOT_EQUAL(key, CK_INVALID_HANDLE);

	/* what we asked for is what the token holds */
	CU_ASSERT_EQUAL(kms_p11_get_ulong(s, &ul, key, CKA_CLASS), KMS_OK);
	CU_ASSERT_EQUAL(ul, CKO_SECRET_KEY);
	CU_ASSERT_EQUAL(kms_p11_get_ulong(s, &ul, key, CKA_KEY_TYPE), KMS_OK);
	CU_ASSERT_EQUAL(ul, CKK_AES);
	CU_ASSERT_EQUAL(kms_p11_get_ulong(s, &ul, key, CKA_VALUE_LEN), KMS_OK);
	CU_ASSERT_EQUAL(ul, 32);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &b, key, CKA_SENSITIVE), KMS_OK);
	CU_ASSERT_EQUAL(b, 1);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &b, key, CKA_EXTRACTABLE), KMS_OK);
	CU_ASSERT_EQUAL(b, 0);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &b, key, CKA_ALWAYS_SENSITIVE), KMS_OK);
	CU_ASSERT_EQUAL(b, 1);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &b, key, CKA_NEVER_EXTRACTABLE), KMS_OK);
	CU_ASSERT_EQUAL(b, 1);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &b, key, CKA_TOKEN), KMS_OK);
	CU_ASSERT_EQUAL(b, 0);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &b, key, CKA_LOCAL), KMS_OK);
	CU_ASSERT_EQUAL(b, 1);
	CU_ASSERT_EQUAL(
		kms_p11_get_attribute(s, mechs, sizeof(mechs), &len, key, CKA_ALLOWED_MECHANISMS),
		KMS_OK);
	CU_ASSERT_EQUAL(len, sizeof(allowed_mechs));
	CU_ASSERT(len == sizeof(allowed_mechs) &&
		  ((mechs[0] == allowed_mechs[0] && mechs[1] == allowed_mechs[1]) ||
		   (mechs[0] == allowed_mechs[1] && mechs[1] == allowed_mechs[0])));
	CU_ASSERT_EQUAL(kms_p11_get_attribute(s, buf, sizeof(buf), &len, key, CKA_LABEL), KMS_OK);
	CU_ASSERT(len == 12 && memcmp(buf, "kms-test-key", 12) == 0);

	/* the two-call check: too small a buffer, the wrong type, a sensitive value */
	len = 99;
	CU_ASSERT_EQUAL(kms_p11_get_attribute(s, buf, 4, &len, key, CKA_LABEL), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &b, key, CKA_VALUE_LEN), KMS_ERR_TOO_LARGE);
	CU_ASSERT_EQUAL(kms_p11_get_ulong(s, &ul, key, CKA_SENSITIVE), KMS_ERR_HSM);
	memset(buf, 0xa5, sizeof(buf));
	CU_ASSERT_EQUAL(kms_p11_get_attribute(s, buf, sizeof(buf), &len, key, CKA_VALUE),
			KMS_ERR_HSM);
	CU_ASSERT_EQUAL(len, 0);
	CU_ASSERT_EQUAL(buf[0], 0xa5);
	CU_ASSERT_EQUAL(buf[31], 0xa5);

	/* the key works for what it allows, and only for that */
	CU_ASSERT_EQUAL(encrypt_block(s, key), KMS_OK);
	{
		CK_MECHANISM ecb = {CKM_AES_ECB, NULL, 0};

		CU_ASSERT_NOT_EQUAL(
			kms_p11_check(s, kms_p11_fn(s)->C_EncryptInit(kms_p11_handle(s), &ecb, key),
				      "C_EncryptInit (ECB, not allowed)"),
			KMS_OK);
	}

	/* a public data object, and finding objects by URI */
	{
		CK_OBJECT_CLASS cls = CKO_DATA;
		CK_BBOOL no = CK_FALSE;
		char label[] = "kms-test-data", app[] = "kms", value[] = "public bytes";
		CK_ATTRIBUTE t[] = {
			{CKA_CLASS, &cls, sizeof(cls)},
			{CKA_TOKEN, &no, sizeof(no)},
			{CKA_LABEL, label, sizeof(label) - 1},
			{CKA_APPLICATION, app, sizeof(app) - 1},
			{CKA_VALUE, value, sizeof(value) - 1},
		};

		CU_ASSERT_EQUAL_FATAL(kms_p11_create_object(s, &data, t, 5), KMS_OK);
	}
	CU_ASSERT_EQUAL(
		count_objects(s, "pkcs11:token=kms-test;object=kms-test-data;type=data", &h), 1);
	CU_ASSERT_EQUAL(h, data);
	CU_ASSERT_EQUAL(
		count_objects(s, "pkcs11:object=kms-test-key;id=%01%02;type=secret-key", &h), 1);
	CU_ASSERT_EQUAL(h, key);
	CU_ASSERT_EQUAL(count_objects(s, "pkcs11:id=%01%02", NULL), 1);
	CU_ASSERT_EQUAL(count_objects(s, "pkcs11:object=kms-test-key;type=data", NULL), 0);
	CU_ASSERT_EQUAL(count_objects(s, "pkcs11:object=kms-test-ke", NULL), 0);
	CU_ASSERT_EQUAL(kms_p11_get_attribute(s, buf, sizeof(buf), &len, data, CKA_VALUE), KMS_OK);
	CU_ASSERT(len == 12 && memcmp(buf, "public bytes", 12) == 0);

	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, data), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, key), KMS_OK);
	/* a destroyed object is an error for its caller, not a lost token */
	CU_ASSERT_EQUAL(kms_p11_get_bool(s, &b, key, CKA_SENSITIVE), KMS_ERR_HSM);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, key), KMS_ERR_HSM);
	kms_p11_return(s);

	kms_p11_get_stats(p, &st);
	CU_ASSERT_EQUAL(st.objects_created, 2);
	CU_ASSERT_EQUAL(st.objects_destroyed, 2);
	CU_ASSERT_EQUAL(st.available, 1);
	CU_ASSERT_EQUAL(st.sessions_out, 0);
	CU_ASSERT_EQUAL(kms_p11_ping(p), KMS_OK);
	kms_p11_free(p);
}

/* ---- login and token selection ---- */

static void
write_file(const char *path, const char *s, mode_t mode)
{
	int fd;

	(void)unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_FATAL(write(fd, s, strlen(s)) == (ssize_t)strlen(s));
	CU_ASSERT_FATAL(fchmod(fd, mode) == 0);
	close(fd);
}

static void
test_wrong_pin(void)
{
	struct kms_p11_config cfg;
	struct kms_p11 *p = NULL;
	char wrong[PATH_MAX];

	(void)snprintf(wrong, sizeof(wrong), "%s/wrong.pin", hsm_dir);
	config(&cfg);
	cfg.pin_file = wrong;
	log_reset();

	write_file(wrong, SENTINEL "\n", 0600);
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_HSM_PIN);
	CU_ASSERT_PTR_NULL(p);
	/* again: the module was finalized and unloaded cleanly, nothing is left behind */
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_HSM_PIN);
	CU_ASSERT_PTR_NULL(p);
	write_file(wrong, SENTINEL "\n", 0644);
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_PIN_FILE);
	CU_ASSERT_PTR_NULL(p);
	write_file(wrong, "", 0600);
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_PIN_FILE);

	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "C_Login: CKR_PIN_INCORRECT"));
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "refused: mode 0644"));
	CU_ASSERT_PTR_NULL(strstr(log_text(), SENTINEL));
	CU_ASSERT_PTR_NULL(strstr(log_text(), "S3nt1nel"));
	(void)unlink(wrong);

	/* and the right PIN still works afterwards */
	config(&cfg);
	p = open_ok(&cfg);
	kms_p11_free(p);
}

static size_t
count_in_log(const char *needle)
{
	const char *t = log_text();
	size_t n = 0;

	while ((t = strstr(t, needle)) != NULL) {
		n++;
		t += strlen(needle);
	}
	return n;
}

/* A PIN refused at a restart is not tried again until someone calls kms_p11_reconnect. */
static void
test_pin_refused_on_restart(void)
{
	struct kms_p11_config cfg;
	struct kms_p11 *p;
	struct kms_p11_session *s;
	char copy[PATH_MAX], pin[128];
	FILE *f;

	f = fopen(pin_file, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fgets(pin, sizeof(pin), f));
	fclose(f);
	(void)snprintf(copy, sizeof(copy), "%s/changing.pin", hsm_dir);
	write_file(copy, pin, 0600);
	config(&cfg);
	cfg.pin_file = copy;
	p = open_ok(&cfg);
	log_reset();

	write_file(copy, SENTINEL "\n", 0600);
	CU_ASSERT_EQUAL(kms_p11_recycle(p), KMS_ERR_HSM_PIN);
	CU_ASSERT_EQUAL(kms_p11_borrow(p, &s), KMS_ERR_HSM_PIN);
	sleep_ms(60); /* well past the 20 ms back-off */
	CU_ASSERT_EQUAL(kms_p11_borrow(p, &s), KMS_ERR_HSM_PIN);
	CU_ASSERT_EQUAL(kms_p11_ping(p), KMS_ERR_HSM_PIN);
	CU_ASSERT_EQUAL(count_in_log("C_Login: CKR_PIN_INCORRECT"), 1);
	CU_ASSERT_PTR_NULL(strstr(log_text(), SENTINEL));

	write_file(copy, pin, 0600);
	CU_ASSERT_EQUAL(kms_p11_reconnect(p), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	kms_p11_return(s);
	kms_p11_free(p);
	(void)unlink(copy);
}

struct recycler {
	struct kms_p11 *p;
	int result;
	atomic_int done;
};

static void *
recycler_main(void *arg)
{
	struct recycler *rc = arg;

	rc->result = kms_p11_recycle(rc->p);
	atomic_store(&rc->done, 1);
	return NULL;
}

/*
 * A module start-up (C_Initialize to C_Login) waits for the flock that other processes logging
 * in with the same PIN file hold meanwhile (SoftHSM rewrites the token's file at each login);
 * after borrow_ms it goes on without it, and says so.
 */
static void
test_startup_lock(void)
{
	struct kms_p11_config cfg;
	struct kms_p11 *p;
	struct recycler rc;
	pthread_t t;
	int fd;

	config(&cfg);
	p = open_ok(&cfg);
	fd = open(pin_file, O_RDONLY | O_CLOEXEC);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT_EQUAL_FATAL(flock(fd, LOCK_EX), 0);

	/* held by "another process": the restart waits */
	rc.p = p;
	rc.result = -1;
	atomic_store(&rc.done, 0);
	CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, recycler_main, &rc), 0);
	sleep_ms(300); /* a recycle takes a few ms */
	CU_ASSERT_EQUAL(atomic_load(&rc.done), 0);
	CU_ASSERT_EQUAL(flock(fd, LOCK_UN), 0);
	CU_ASSERT_EQUAL(pthread_join(t, NULL), 0);
	CU_ASSERT_EQUAL(rc.result, KMS_OK);
	kms_p11_free(p);

	/* held for longer than borrow_ms: started without it */
	config(&cfg);
	cfg.borrow_ms = 100;
	log_reset();
	CU_ASSERT_EQUAL_FATAL(flock(fd, LOCK_EX), 0);
	p = open_ok(&cfg);
	CU_ASSERT_EQUAL(count_in_log("starting without it"), 1);
	CU_ASSERT_EQUAL(flock(fd, LOCK_UN), 0);
	CU_ASSERT_EQUAL(kms_p11_recycle(p), KMS_OK);
	CU_ASSERT_EQUAL(count_in_log("starting without it"), 1);
	kms_p11_free(p);
	close(fd);
}

static void
test_pin_credential(void)
{
	struct kms_p11_config cfg;
	struct kms_p11 *p;

	config(&cfg);
	cfg.pin_file = NULL;
	cfg.pin_credential = "user.pin";
	CU_ASSERT_FATAL(setenv("CREDENTIALS_DIRECTORY", hsm_dir, 1) == 0);
	p = open_ok(&cfg);
	kms_p11_free(p);
	CU_ASSERT_FATAL(unsetenv("CREDENTIALS_DIRECTORY") == 0);
}

/* The PIN in memory (the key ceremony): used for the login and again at each restart. */
static void
test_pin_in_memory(void)
{
	struct kms_p11_config cfg;
	struct kms_p11 *p = NULL;
	struct kms_p11_session *s;
	struct kms_secret *pin, *wrong;
	char buf[128];
	FILE *f;
	size_t n;

	f = fopen(pin_file, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	CU_ASSERT_PTR_NOT_NULL_FATAL(fgets(buf, sizeof(buf), f));
	fclose(f);
	n = strcspn(buf, "\n");
	pin = kms_secret_new(n);
	wrong = kms_secret_new(sizeof(SENTINEL) - 1);
	CU_ASSERT_FATAL(pin != NULL && wrong != NULL);
	memcpy(pin->data, buf, n);
	memcpy(wrong->data, SENTINEL, sizeof(SENTINEL) - 1);
	kms_memzero(buf, sizeof(buf));

	/* exactly one of the three PIN sources */
	config(&cfg);
	cfg.pin = pin;
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_INVALID_ARG); /* and a file */
	cfg.pin_file = NULL;
	cfg.pin_credential = "user.pin";
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_INVALID_ARG); /* and a credential */
	cfg.pin_credential = NULL;
	cfg.pin = &(struct kms_secret){NULL, 0, NULL, 0};
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_INVALID_ARG); /* empty */
	CU_ASSERT_PTR_NULL(p);

	log_reset();
	cfg.pin = wrong;
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_HSM_PIN);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "C_Login: CKR_PIN_INCORRECT"));
	CU_ASSERT_PTR_NULL(strstr(log_text(), SENTINEL));

	cfg.pin = pin;
	p = open_ok(&cfg);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	kms_p11_return(s);
	/* a restart logs in again with the same PIN, which the layer did not copy or wipe */
	CU_ASSERT_EQUAL(kms_p11_reconnect(p), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	kms_p11_return(s);
	CU_ASSERT_EQUAL(pin->len, n);
	CU_ASSERT(!kms_test_all_zero(pin->data, pin->len));
	kms_p11_free(p);
	kms_secret_free(pin);
	kms_secret_free(wrong);
}

static void
test_token_selection(void)
{
	struct kms_p11_config cfg;
	struct kms_p11 *p = NULL;

	config(&cfg);
	log_reset();
	cfg.token_uri = "pkcs11:token=no-such-token";
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_HSM_UNAVAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "no token labelled \"no-such-token\""));
	cfg.token_uri = "pkcs11:token=kms-test;serial=0000000000000000";
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_HSM_UNAVAIL);
	cfg.token_uri = "pkcs11:token=kms-test;slot-id=999999";
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_HSM_UNAVAIL);
	/* two initialized tokens: a URI that names neither is ambiguous */
	cfg.token_uri = "pkcs11:";
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_INVALID_ARG);
	cfg.token_uri = "pkcs11:manufacturer=SoftHSM%20project;model=SoftHSM%20v2";
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "2 tokens match"));
	/* library attributes are checked against C_GetInfo */
	cfg.token_uri = "pkcs11:token=kms-test;library-manufacturer=Nobody";
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(p);
	/* the full set of a real selection */
	cfg.token_uri = "pkcs11:token=kms-test;manufacturer=SoftHSM%20project;model=SoftHSM%20v2;"
			"library-manufacturer=SoftHSM;object=ignored-here?module-path=";
	{
		char uri[PATH_MAX * 2];

		(void)snprintf(uri, sizeof(uri), "%s%s", cfg.token_uri, module);
		cfg.token_uri = uri;
		p = open_ok(&cfg);
		kms_p11_free(p);
	}
}

/* The module belongs to one instance: a second C_Initialize in the process is refused. */
static void
test_module_owned(void)
{
	struct kms_p11_config cfg;
	struct kms_p11 *p, *q = NULL;
	struct kms_p11_session *s;
	CK_OBJECT_HANDLE key;

	config(&cfg);
	p = open_ok(&cfg);
	CU_ASSERT_EQUAL(kms_p11_new(&q, &cfg), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NULL(q);
	/* and the failed one did not finalize the module under the first one's feet */
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	CU_ASSERT_EQUAL(gen_key(s, &key, CK_FALSE), KMS_OK);
	CU_ASSERT_EQUAL(encrypt_block(s, key), KMS_OK);
	kms_p11_return(s);
	kms_p11_free(p);
}

/*
 * module_params goes to C_Initialize as pReserved: SoftHSM, which wants none (PKCS#11 says
 * NULL), refuses one; more than KMS_P11_MAX_PARAMS bytes are refused before the module is loaded.
 */
static void
test_module_params(void)
{
	static char longer[KMS_P11_MAX_PARAMS + 2];
	struct kms_p11_config cfg;
	struct kms_p11 *p = NULL;

	config(&cfg);
	log_reset();
	cfg.module_params = "configdir='sql:/nowhere'";
	CU_ASSERT_NOT_EQUAL(kms_p11_new(&p, &cfg), KMS_OK);
	CU_ASSERT_PTR_NULL(p);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "C_Initialize: CKR_ARGUMENTS_BAD"));
	memset(longer, 'x', sizeof(longer) - 1);
	cfg.module_params = longer;
	CU_ASSERT_EQUAL(kms_p11_new(&p, &cfg), KMS_ERR_INVALID_ARG);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "parameters are longer than 1024 bytes"));
	/* exactly the limit passes the check (and SoftHSM refuses it, as any string) */
	longer[KMS_P11_MAX_PARAMS] = '\0';
	log_reset();
	CU_ASSERT_NOT_EQUAL(kms_p11_new(&p, &cfg), KMS_OK);
	CU_ASSERT_PTR_NULL(strstr(log_text(), "parameters are longer"));
	/* and without, the same configuration works */
	cfg.module_params = NULL;
	p = open_ok(&cfg);
	kms_p11_free(p);
}

/* ---- token loss and return ---- */

static void
test_token_removed(void)
{
	struct kms_p11_config cfg;
	struct kms_p11_stats st;
	struct kms_p11 *p;
	struct kms_p11_session *s;
	CK_OBJECT_HANDLE key, tok;

	config(&cfg);
	cfg.retry_ms = 200; /* long enough that "not yet" below holds on a slow machine */
	p = open_ok(&cfg);
	log_reset();
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(gen_key(s, &key, CK_FALSE), KMS_OK);

	token_away();
	/*
	 * SoftHSM answers CKR_GENERAL_ERROR for what touches the removed token's files (a token
	 * object here); the layer asks C_GetTokenInfo, which fails too, and calls it a lost token.
	 * (Session objects live in memory and may still work until the restart.)
	 */
	CU_ASSERT_EQUAL(gen_key(s, &tok, CK_TRUE), KMS_ERR_HSM_UNAVAIL);
	CU_ASSERT_PTR_NOT_NULL(strstr(log_text(), "treating it as removed"));
	kms_p11_return(s);
	kms_p11_get_stats(p, &st);
	CU_ASSERT_EQUAL(st.available, 0);
	CU_ASSERT_EQUAL(st.sessions_out, 0);

	/* down: borrows fail fast, ping too, restarts fail while the token is away */
	CU_ASSERT_EQUAL(kms_p11_borrow(p, &s), KMS_ERR_HSM_UNAVAIL);
	CU_ASSERT_PTR_NULL(s);
	CU_ASSERT_EQUAL(kms_p11_ping(p), KMS_ERR_HSM_UNAVAIL);
	sleep_ms(250);
	CU_ASSERT_EQUAL(kms_p11_borrow(p, &s), KMS_ERR_HSM_UNAVAIL); /* automatic restart, failed */
	/* the try (4 attempts) logs one ERROR line, which says why; the attempts are DEBUG */
	CU_ASSERT_EQUAL(count_of(log_text(), "restart failed (KMS_ERR_HSM_UNAVAIL: no token "
					     "labelled \"kms-test\" matches the token URI)"),
			1);
	CU_ASSERT_EQUAL(count_of(log_text(), "ERROR test_hsm_p11: p11: no token labelled"), 0);
	CU_ASSERT_EQUAL(count_of(log_text(), "DEBUG test_hsm_p11: p11: no token labelled"), 4);
	CU_ASSERT_EQUAL(kms_p11_reconnect(p), KMS_ERR_HSM_UNAVAIL);
	kms_p11_get_stats(p, &st);
	CU_ASSERT_EQUAL(st.available, 0);
	CU_ASSERT_EQUAL(st.restarts, 0);

	/* back: an explicit reconnect finds it and logs in again */
	token_back();
	CU_ASSERT_EQUAL(kms_p11_reconnect(p), KMS_OK);
	kms_p11_get_stats(p, &st);
	CU_ASSERT_EQUAL(st.available, 1);
	CU_ASSERT_EQUAL(st.restarts, 1);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	/* the old session key died with the old initialization */
	CU_ASSERT_NOT_EQUAL(encrypt_block(s, key), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(gen_key(s, &key, CK_FALSE), KMS_OK);
	CU_ASSERT_EQUAL(encrypt_block(s, key), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_destroy_object(s, key), KMS_OK);
	kms_p11_return(s);

	/* noticed by ping this time, and recovered by the automatic restart of a borrow */
	token_away();
	CU_ASSERT_EQUAL(kms_p11_ping(p), KMS_ERR_HSM_UNAVAIL);
	token_back();
	CU_ASSERT_EQUAL(kms_p11_borrow(p, &s), KMS_ERR_HSM_UNAVAIL); /* back-off not over */
	sleep_ms(250);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(gen_key(s, &key, CK_FALSE), KMS_OK);
	CU_ASSERT_EQUAL(encrypt_block(s, key), KMS_OK);
	kms_p11_return(s);
	kms_p11_get_stats(p, &st);
	CU_ASSERT_EQUAL(st.restarts, 2);
	/* new; failed auto and failed reconnect, each tried 4 times (a restart that finds no token
	 * tries again 3 times shortly: another process may be rewriting SoftHSM's token file);
	 * ok; ok */
	CU_ASSERT_EQUAL(st.generation, 1 + 4 + 4 + 1 + 1);
	CU_ASSERT_EQUAL(kms_p11_ping(p), KMS_OK);
	kms_p11_free(p);
}

/* What a real HSM says when it goes (SoftHSM never does): the session is dropped. */
static void
test_device_gone_codes(void)
{
	struct kms_p11_config cfg;
	struct kms_p11_stats st;
	struct kms_p11 *p;
	struct kms_p11_session *s;

	config(&cfg);
	p = open_ok(&cfg);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	/* an opaque error with the token still there stays an ordinary error */
	CU_ASSERT_EQUAL(kms_p11_check(s, CKR_GENERAL_ERROR, "test"), KMS_ERR_HSM);
	CU_ASSERT_EQUAL(kms_p11_check(s, CKR_MECHANISM_INVALID, "test"), KMS_ERR_UNSUPPORTED);
	kms_p11_get_stats(p, &st);
	CU_ASSERT_EQUAL(st.available, 1);
	CU_ASSERT_EQUAL(kms_p11_check(s, CKR_DEVICE_REMOVED, "test"), KMS_ERR_HSM_UNAVAIL);
	kms_p11_return(s);
	kms_p11_get_stats(p, &st);
	CU_ASSERT_EQUAL(st.available, 0);
	CU_ASSERT_EQUAL(kms_p11_reconnect(p), KMS_OK);

	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	CU_ASSERT_EQUAL(kms_p11_check(s, CKR_SESSION_HANDLE_INVALID, "test"), KMS_ERR_HSM_UNAVAIL);
	kms_p11_return(s);
	sleep_ms(30);
	CU_ASSERT_EQUAL(kms_p11_ping(p), KMS_OK); /* restarted automatically */
	kms_p11_free(p);
}

/* ---- recycling ---- */

static void
test_recycle(void)
{
	struct kms_p11_config cfg;
	struct kms_p11_stats st;
	struct kms_p11 *p;
	struct kms_p11_session *s;
	CK_OBJECT_HANDLE key;
	unsigned int round, i;

	config(&cfg);
	cfg.recycle_after = 40;
	p = open_ok(&cfg);
	for (round = 0; round < 10; round++) {
		CU_ASSERT_EQUAL(kms_p11_recycle_due(p), 0);
		CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
		for (i = 0; i < 50; i++) {
			CU_ASSERT_EQUAL_FATAL(gen_key(s, &key, CK_FALSE), KMS_OK);
			CU_ASSERT_EQUAL(encrypt_block(s, key), KMS_OK);
			CU_ASSERT_EQUAL(kms_p11_destroy_object(s, key), KMS_OK);
		}
		kms_p11_return(s);
		CU_ASSERT_EQUAL(kms_p11_recycle_due(p), 1);
		kms_p11_get_stats(p, &st);
		CU_ASSERT_EQUAL(st.objects_created, 50);
		CU_ASSERT_EQUAL(st.objects_destroyed, 50);
		CU_ASSERT_EQUAL_FATAL(kms_p11_recycle(p), KMS_OK);
		kms_p11_get_stats(p, &st);
		CU_ASSERT_EQUAL(st.objects_created, 0);
		CU_ASSERT_EQUAL(st.objects_destroyed, 0);
		CU_ASSERT_EQUAL(st.generation, round + 2);
		CU_ASSERT_EQUAL(st.restarts, round + 1);
		CU_ASSERT_EQUAL(st.available, 1);
	}
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(gen_key(s, &key, CK_FALSE), KMS_OK);
	CU_ASSERT_EQUAL(encrypt_block(s, key), KMS_OK);
	kms_p11_return(s);
	kms_p11_free(p);
}

/* ---- the pool ---- */

struct worker {
	struct kms_p11 *p;
	unsigned int iterations;
	atomic_uint *errors;
	atomic_uint *done;
	atomic_uint *max_out;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct kms_p11_session *s;
	struct kms_p11_stats st;
	CK_OBJECT_HANDLE key;
	unsigned int i;
	int r;

	for (i = 0; i < w->iterations; i++) {
		if ((r = kms_p11_borrow(w->p, &s)) != KMS_OK) {
			fprintf(stderr, "borrow: %s\n", kms_err_name(r));
			atomic_fetch_add(w->errors, 1);
			continue;
		}
		kms_p11_get_stats(w->p, &st);
		if (st.sessions_out > atomic_load(w->max_out)) {
			atomic_store(w->max_out, st.sessions_out);
		}
		if (gen_key(s, &key, CK_FALSE) != KMS_OK || encrypt_block(s, key) != KMS_OK ||
		    kms_p11_destroy_object(s, key) != KMS_OK) {
			atomic_fetch_add(w->errors, 1);
		} else {
			atomic_fetch_add(w->done, 1);
		}
		kms_p11_return(s);
	}
	return NULL;
}

static void
test_pool_threads(void)
{
	struct kms_p11_config cfg;
	struct kms_p11_stats st;
	struct kms_p11 *p;
	struct worker w;
	pthread_t t[4];
	atomic_uint errors = 0, done = 0, max_out = 0;
	unsigned int i, recycled = 0;

	config(&cfg);
	cfg.num_sessions = 2; /* fewer sessions than threads: borrows wait */
	p = open_ok(&cfg);
	w.p = p;
	w.iterations = 150;
	w.errors = &errors;
	w.done = &done;
	w.max_out = &max_out;
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, worker_main, &w), 0);
	}
	/* recycles in the middle of the traffic: they drain the pool, restart, and go on */
	for (i = 0; i < 3; i++) {
		sleep_ms(15);
		recycled += kms_p11_recycle(p) == KMS_OK;
	}
	for (i = 0; i < 4; i++) {
		CU_ASSERT_EQUAL(pthread_join(t[i], NULL), 0);
	}
	CU_ASSERT_EQUAL(atomic_load(&errors), 0);
	CU_ASSERT_EQUAL(atomic_load(&done), 4 * 150);
	CU_ASSERT(atomic_load(&max_out) >= 1 && atomic_load(&max_out) <= 2);
	CU_ASSERT_EQUAL(recycled, 3);
	kms_p11_get_stats(p, &st);
	CU_ASSERT_EQUAL(st.sessions_out, 0);
	CU_ASSERT_EQUAL(st.objects_created, st.objects_destroyed);
	CU_ASSERT_EQUAL(st.restarts, 3);
	kms_p11_free(p);
}

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	(void)clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void
test_pool_bounded(void)
{
	struct kms_p11_config cfg;
	struct kms_p11 *p;
	struct kms_p11_session *s, *s2 = NULL;
	uint64_t t0;

	config(&cfg);
	cfg.num_sessions = 1;
	cfg.borrow_ms = 100;
	p = open_ok(&cfg);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	t0 = mono_ms();
	CU_ASSERT_EQUAL(kms_p11_borrow(p, &s2), KMS_ERR_HSM_BUSY);
	CU_ASSERT(mono_ms() - t0 >= 90);
	CU_ASSERT_PTR_NULL(s2);
	/* a restart waits for the session to come back, bounded too */
	CU_ASSERT_EQUAL(kms_p11_reconnect(p), KMS_ERR_HSM_BUSY);
	CU_ASSERT_EQUAL(kms_p11_recycle(p), KMS_ERR_HSM_BUSY);
	kms_p11_return(s);
	kms_p11_return(NULL);
	CU_ASSERT_EQUAL(kms_p11_recycle(p), KMS_OK);
	CU_ASSERT_EQUAL_FATAL(kms_p11_borrow(p, &s), KMS_OK);
	kms_p11_return(s);
	kms_p11_free(p);
	kms_p11_free(NULL);
}

/* A child must not use its parent's instance. */
static void
test_fork(void)
{
	struct kms_p11_config cfg;
	struct kms_p11 *p;
	struct kms_p11_session *s;
	pid_t pid;
	int status = -1;

	config(&cfg);
	p = open_ok(&cfg);
	pid = fork();
	CU_ASSERT_FATAL(pid >= 0);
	if (pid == 0) {
		_exit(kms_p11_borrow(p, &s) == KMS_ERR_INTERNAL &&
				      kms_p11_reconnect(p) == KMS_ERR_INTERNAL
			      ? 0
			      : 1);
	}
	CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
	CU_ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CU_ASSERT_EQUAL(kms_p11_ping(p), KMS_OK);
	kms_p11_free(p);
}

static CU_TestInfo hsm_tests[] = {
	{"AES key: attributes read back, objects found by URI", test_key_attributes},
	{"wrong PIN, refused PIN file, PIN never logged", test_wrong_pin},
	{"a PIN refused at a restart is not retried", test_pin_refused_on_restart},
	{"module start-ups wait for the PIN file's lock, for a while", test_startup_lock},
	{"PIN from a systemd credential", test_pin_credential},
	{"PIN in memory", test_pin_in_memory},
	{"token selection by URI", test_token_selection},
	{"the module belongs to one instance", test_module_owned},
	{"module_params reaches C_Initialize, bounded", test_module_params},
	{"token removed and restored", test_token_removed},
	{"device-gone codes drop the session", test_device_gone_codes},
	{"10 recycles", test_recycle},
	{"pool under 4 threads, with recycles", test_pool_threads},
	{"pool is bounded", test_pool_bounded},
	{"fork", test_fork},
	CU_TEST_INFO_NULL,
};

CU_SuiteInfo suites[] = {
	{"hsm p11 (SoftHSM)", suite_init, suite_cleanup, NULL, NULL, hsm_tests},
	CU_SUITE_INFO_NULL,
};

int
main(void)
{
	return kms_test_main(suites);
}
