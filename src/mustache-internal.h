/*
 * mustache-internal: the compiled form of a template, shared by the
 * compiler (mustache.c) and the renderer (mustache_render.c).  Not part of
 * the API: callers see only struct mustache's name.
 */
#ifndef PSABRIDGE_MUSTACHE_INTERNAL_H
#define PSABRIDGE_MUSTACHE_INTERNAL_H

#include <stddef.h>

#include "psabridge/mustache.h"

enum mustache_node_type {
	MN_TEXT,
	MN_VAR,
	MN_RAW,
	MN_SECTION, /* from here on, nodes have content up to `end` */
	MN_INVERTED,
	MN_PARENT,
	MN_BLOCK,
	MN_PARTIAL, /* no content */
};

/*
 * One node per piece of output.  Containers (MN_SECTION to MN_BLOCK) own
 * the nodes that follow them up to `end`; a parent's content is only
 * searched for its blocks, never rendered.  Names live in the pool as one
 * NUL-ended string per dotted part ("payload\0hostname\0", nparts 2);
 * partial, parent (unless dynamic) and block names are one part, dots and
 * all.
 */
struct mustache_node {
	unsigned char type;
	unsigned char dynamic; /* {{>*x}}: the name is looked up in the data */
	unsigned char standalone; /* alone on its line: expansion is indented */
	int line, column;
	size_t off, len; /* in pool: the text, or the name (parts NUL-ended) */
	size_t nparts;	 /* parts of a dotted name; 0 is "." */
	size_t ind, indlen; /* in pool: indentation of the expansion */
	size_t end;	    /* one past the last node of the content */
};

struct mustache {
	struct mustache_node *nodes;
	size_t nnodes, nodecap;
	char *pool; /* every text, name and indentation */
	size_t poollen, poolcap;
	mustache_partial_fn partial_fn;
	void *arg;
};

#endif
