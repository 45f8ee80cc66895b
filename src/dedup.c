/*
 * A chained hash table over SHA-256 digests (already uniform: the first
 * eight bytes are the hash) plus a FIFO in arrival order for eviction.
 * A replaced entry is unlinked from its chain at once and freed when it
 * reaches the head of the FIFO.
 */
#include <stdlib.h>
#include <string.h>

#include "psabridge/dedup.h"

struct dedup_entry {
	unsigned char hash[DEDUP_HASH_LEN];
	char id[DEDUP_ID_LEN + 1];
	int dead;
	int64_t received_ms;
	const char *source; /* interned */
	struct dedup_entry *chain, *fifo;
};

struct dedup {
	int64_t horizon_ms;
	/*
	 * Two tables while growing, as Redis's dict does: every add moves a
	 * few buckets from table[0] to table[1], so no single add pays for
	 * rehashing millions of entries (a 30 ms stall at 512k otherwise).
	 */
	struct dedup_entry **table[2];
	size_t size[2];	 /* powers of two; size[1] is 0 when not growing */
	size_t rehashed; /* buckets of table[0] already moved */
	size_t count;	 /* live entries */
	struct dedup_entry *head, *tail;
	char **sources;
	size_t nsources;
	uint64_t evicted_early;
};

#define DEDUP_REHASH_STEP 64

static size_t
dedup_index(const unsigned char *hash, size_t size)
{
	uint64_t h;

	memcpy(&h, hash, sizeof(h));
	return (size_t)h & (size - 1);
}

struct dedup *
dedup_new(int64_t horizon_ms)
{
	struct dedup *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	d->horizon_ms = horizon_ms;
	d->size[0] = 1024;
	if ((d->table[0] = calloc(d->size[0], sizeof(*d->table[0]))) == NULL) {
		free(d);
		return NULL;
	}
	return d;
}

void
dedup_free(struct dedup *d)
{
	struct dedup_entry *e, *next;
	size_t i;

	if (d == NULL)
		return;
	for (e = d->head; e != NULL; e = next) {
		next = e->fifo;
		free(e);
	}
	for (i = 0; i < d->nsources; i++)
		free(d->sources[i]);
	free(d->sources);
	free(d->table[0]);
	free(d->table[1]);
	free(d);
}

/* The link that points at the entry for (source, hash) in table t. */
static struct dedup_entry **
dedup_slot_in(const struct dedup *d, int t, const char *source,
	      const unsigned char *hash)
{
	struct dedup_entry **p = &d->table[t][dedup_index(hash, d->size[t])];

	for (; *p != NULL; p = &(*p)->chain) {
		if (memcmp((*p)->hash, hash, DEDUP_HASH_LEN) == 0 &&
		    strcmp((*p)->source, source) == 0)
			return p;
	}
	return p;
}

/* Where the entry is, or (when absent) where a new one goes. */
static struct dedup_entry **
dedup_slot(const struct dedup *d, const char *source, const unsigned char *hash)
{
	struct dedup_entry **p = dedup_slot_in(d, 0, source, hash);

	if (*p != NULL || d->table[1] == NULL)
		return p;
	return dedup_slot_in(d, 1, source, hash);
}

int
dedup_find(const struct dedup *d, const char *source, const unsigned char *hash,
	   int64_t since_ms, char *id)
{
	struct dedup_entry *e = *dedup_slot(d, source, hash);

	if (e == NULL || e->received_ms < since_ms)
		return 0;
	memcpy(id, e->id, DEDUP_ID_LEN + 1);
	return 1;
}

static void
dedup_unlink(struct dedup *d, struct dedup_entry *e)
{
	struct dedup_entry **p = dedup_slot(d, e->source, e->hash);

	if (*p == e) {
		*p = e->chain;
		d->count--;
	}
	e->dead = 1;
}

/* Drops FIFO entries that are out of the horizon or over the cap. */
static void
dedup_evict(struct dedup *d, int64_t now_ms)
{
	struct dedup_entry *e;

	while ((e = d->head) != NULL) {
		if (!e->dead) {
			if (e->received_ms >= now_ms - d->horizon_ms &&
			    d->count <= DEDUP_MAX_ENTRIES)
				break;
			if (e->received_ms >= now_ms - d->horizon_ms)
				d->evicted_early++;
			dedup_unlink(d, e);
		}
		d->head = e->fifo;
		if (d->head == NULL)
			d->tail = NULL;
		free(e);
	}
}

/* Moves a few buckets to the new table; swaps tables when all moved. */
static void
dedup_rehash_step(struct dedup *d)
{
	struct dedup_entry *e, *next;
	size_t n;

	for (n = 0; n < DEDUP_REHASH_STEP && d->rehashed < d->size[0]; n++) {
		for (e = d->table[0][d->rehashed]; e != NULL; e = next) {
			size_t k = dedup_index(e->hash, d->size[1]);

			next = e->chain;
			e->chain = d->table[1][k];
			d->table[1][k] = e;
		}
		d->table[0][d->rehashed++] = NULL;
	}
	if (d->rehashed < d->size[0])
		return;
	free(d->table[0]);
	d->table[0] = d->table[1];
	d->size[0] = d->size[1];
	d->table[1] = NULL;
	d->size[1] = 0;
	d->rehashed = 0;
}

/* Starts growing when chains get long; failure only costs speed. */
static void
dedup_grow(struct dedup *d)
{
	if (d->table[1] != NULL) {
		dedup_rehash_step(d);
		return;
	}
	if (d->count < d->size[0] * 2)
		return;
	d->table[1] = calloc(d->size[0] * 2, sizeof(*d->table[1]));
	if (d->table[1] != NULL)
		d->size[1] = d->size[0] * 2;
}

static const char *
dedup_intern(struct dedup *d, const char *source)
{
	char **p;
	size_t i;

	for (i = 0; i < d->nsources; i++) {
		if (strcmp(d->sources[i], source) == 0)
			return d->sources[i];
	}
	if ((p = realloc(d->sources, (d->nsources + 1) * sizeof(*p))) == NULL)
		return NULL;
	d->sources = p;
	if ((p[d->nsources] = strdup(source)) == NULL)
		return NULL;
	return p[d->nsources++];
}

int
dedup_add(struct dedup *d, const char *source, const unsigned char *hash,
	  const char *id, int64_t received_ms)
{
	struct dedup_entry **slot, *e;

	if ((e = calloc(1, sizeof(*e))) == NULL ||
	    (e->source = dedup_intern(d, source)) == NULL) {
		free(e);
		return -1;
	}
	memcpy(e->hash, hash, DEDUP_HASH_LEN);
	memcpy(e->id, id, DEDUP_ID_LEN);
	e->received_ms = received_ms;
	slot = dedup_slot(d, source, hash);
	if (*slot != NULL)
		dedup_unlink(d, *slot);
	/* new keys go to the table being filled while one is */
	slot = dedup_slot_in(d, d->table[1] != NULL, source, hash);
	*slot = e;
	d->count++;
	if (d->tail != NULL)
		d->tail->fifo = e;
	else
		d->head = e;
	d->tail = e;
	dedup_evict(d, received_ms);
	dedup_grow(d);
	return 0;
}

size_t
dedup_count(const struct dedup *d)
{
	return d->count;
}

uint64_t
dedup_evicted_early(const struct dedup *d)
{
	return d->evicted_early;
}
