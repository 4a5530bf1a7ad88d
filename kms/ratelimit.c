/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Per-client rate limits: a token bucket per client name, refilled at rate per second up to
 * burst. The table is bounded (MAX_CLIENTS); when it is full, buckets that are full again (idle
 * clients) are dropped first, and if none is, the request is refused rather than the table grown.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kms/internal.h"

#include "common/banned.h"

#define BUCKETS     1024u
#define MAX_CLIENTS 65536u

struct bucket {
	struct bucket *next;
	uint64_t last_ms;
	uint64_t milli_tokens; /* tokens * 1000 */
	char client[KMS_PROTO_MAX_CLIENT_ID + 1];
};

struct kmsd_ratelimit {
	pthread_mutex_t lock;
	uint64_t rate, burst;
	size_t count;
	struct bucket *b[BUCKETS];
};

int
kmsd_ratelimit_new(struct kmsd_ratelimit **out, uint64_t rate, uint64_t burst)
{
	struct kmsd_ratelimit *rl = calloc(1, sizeof(*rl));

	*out = NULL;
	if (rl == NULL) {
		return KMS_ERR_NOMEM;
	}
	pthread_mutex_init(&rl->lock, NULL);
	rl->rate = rate;
	rl->burst = burst;
	*out = rl;
	return KMS_OK;
}

void
kmsd_ratelimit_free(struct kmsd_ratelimit *rl)
{
	size_t i;

	if (rl == NULL) {
		return;
	}
	for (i = 0; i < BUCKETS; i++) {
		while (rl->b[i] != NULL) {
			struct bucket *n = rl->b[i]->next;
			free(rl->b[i]);
			rl->b[i] = n;
		}
	}
	pthread_mutex_destroy(&rl->lock);
	free(rl);
}

static size_t
hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	while (*s != '\0') {
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	}
	return (size_t)(h % BUCKETS);
}

static void
refill(const struct kmsd_ratelimit *rl, struct bucket *b, uint64_t now_ms)
{
	uint64_t cap = rl->burst * 1000u;
	uint64_t dt = now_ms > b->last_ms ? now_ms - b->last_ms : 0;
	uint64_t add = dt > cap ? cap * rl->rate : dt * rl->rate; /* ms * per-second = milli */

	b->milli_tokens = b->milli_tokens + add > cap ? cap : b->milli_tokens + add;
	b->last_ms = now_ms;
}

/* Drop the buckets that are full again (their clients have been idle). Lock held. */
static void
sweep(struct kmsd_ratelimit *rl, uint64_t now_ms)
{
	size_t i;

	for (i = 0; i < BUCKETS; i++) {
		struct bucket **pp = &rl->b[i];
		while (*pp != NULL) {
			refill(rl, *pp, now_ms);
			if ((*pp)->milli_tokens >= rl->burst * 1000u) {
				struct bucket *dead = *pp;
				*pp = dead->next;
				free(dead);
				rl->count--;
				continue;
			}
			pp = &(*pp)->next;
		}
	}
}

bool
kmsd_ratelimit_take(struct kmsd_ratelimit *rl, const char *client, uint64_t now_ms)
{
	struct bucket *b;
	size_t h = hash(client);
	bool ok = false;

	if (rl->rate == 0) {
		return true; /* no limit configured */
	}
	if (strlen(client) > KMS_PROTO_MAX_CLIENT_ID) {
		return false;
	}
	pthread_mutex_lock(&rl->lock);
	for (b = rl->b[h]; b != NULL; b = b->next) {
		if (strcmp(b->client, client) == 0) {
			break;
		}
	}
	if (b == NULL) {
		if (rl->count >= MAX_CLIENTS) {
			sweep(rl, now_ms);
		}
		if (rl->count >= MAX_CLIENTS || (b = calloc(1, sizeof(*b))) == NULL) {
			goto out;
		}
		memcpy(b->client, client, strlen(client) + 1);
		b->milli_tokens = rl->burst * 1000u;
		b->last_ms = now_ms;
		b->next = rl->b[h];
		rl->b[h] = b;
		rl->count++;
	}
	refill(rl, b, now_ms);
	if (b->milli_tokens >= 1000u) {
		b->milli_tokens -= 1000u;
		ok = true;
	}
out:
	pthread_mutex_unlock(&rl->lock);
	return ok;
}
