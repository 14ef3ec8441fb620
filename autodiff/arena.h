/* A bump arena: each training step's tape nodes and activations come from
 * one arena that is reset, not freed, between steps.
 *
 * Allocation is a pointer bump (64-byte aligned for SIMD loads). When a
 * step needs more than the arena holds, a new block is chained; the next
 * reset merges the blocks into one of the high-water size, so from the
 * second step on a training loop allocates nothing. */
#ifndef ELBO_ARENA_H
#define ELBO_ARENA_H

#include <stddef.h>

#include "ops/error.h"

typedef struct elbo_arena_block elbo_arena_block;

typedef struct elbo_arena {
    elbo_arena_block *head; /* current block; older blocks chain behind it */
    size_t used_total;      /* bytes handed out since the last reset */
    size_t high_water;      /* most bytes any step has used */
} elbo_arena;

elbo_status elbo_arena_init(elbo_arena *a, size_t initial_bytes);
/* 64-byte aligned, uninitialised; NULL only when the system is out of memory. */
void *elbo_arena_alloc(elbo_arena *a, size_t bytes);
/* The same, zero-filled. */
void *elbo_arena_calloc(elbo_arena *a, size_t bytes);
void elbo_arena_reset(elbo_arena *a);
void elbo_arena_free(elbo_arena *a);
/* Bytes reserved across all blocks, and the number of blocks (1 in steady state). */
size_t elbo_arena_capacity(const elbo_arena *a);
int elbo_arena_blocks(const elbo_arena *a);

#endif
