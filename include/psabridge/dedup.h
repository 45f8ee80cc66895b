/*
 * dedup: the in-memory index of recent events, by source and body hash,
 * that tells a repeated callback from a new one.
 *
 * Why in memory: an on-disk index keyed by a hash puts every insert on a
 * random B-tree page, and with group commit that meant writing one page
 * per event; the store's throughput halved.  The store keeps the truth
 * (events carry their hash) and refills this index at start-up from the
 * events received within the horizon.
 *
 * Entries older than the horizon are evicted, oldest first; past
 * DEDUP_MAX_ENTRIES the oldest go early (the window then shortens, and
 * dedup_evicted_early() says how often).  Not thread-safe: one owner.
 */
#ifndef PSABRIDGE_DEDUP_H
#define PSABRIDGE_DEDUP_H

#include <stddef.h>
#include <stdint.h>

#define DEDUP_MAX_ENTRIES 2000000
#define DEDUP_HASH_LEN	  32
#define DEDUP_ID_LEN	  36

struct dedup;

/* horizon_ms: the longest window asked for.  NULL when out of memory. */
struct dedup *dedup_new(int64_t horizon_ms);

/* NULL is safe. */
void dedup_free(struct dedup *d);

/*
 * The id of the first event with this source and hash received at or
 * after since_ms (copied into id, DEDUP_ID_LEN + 1 bytes): 1, or 0 when
 * there is none.
 */
int dedup_find(const struct dedup *d, const char *source,
	       const unsigned char *hash, int64_t since_ms, char *id);

/*
 * Records an event (received_ms not older than earlier ones, roughly: the
 * order of arrival).  Replaces an older entry for the same key.  Evicts
 * what fell out of the horizon relative to received_ms.  0, or -1 when
 * out of memory (then the event is simply not known as a duplicate later).
 */
int dedup_add(struct dedup *d, const char *source, const unsigned char *hash,
	      const char *id, int64_t received_ms);

size_t dedup_count(const struct dedup *d);
uint64_t dedup_evicted_early(const struct dedup *d);

#endif
