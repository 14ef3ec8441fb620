/* DIR/summary.json of a run: {"driver", "config": {...}, "results": {...}}.
 *
 *     elbo_summary s;
 *     elbo_summary_begin(&s, &cli);               // config from the CLI
 *     elbo_json_number(&s.json, "test_elbo", v);  // inside "results"
 *     if (elbo_summary_write(&s, cli.out) != ELBO_OK) ...
 *
 * Key names in "results" are the driver's stable contract with the book. */
#ifndef ELBO_SUMMARY_H
#define ELBO_SUMMARY_H

#include "cli.h"
#include "models/io/json.h"
#include "ops/error.h"

typedef struct elbo_summary {
    elbo_json json; /* positioned inside the "results" object */
} elbo_summary;

void elbo_summary_begin(elbo_summary *s, const elbo_cli *cli);
/* Close "results", write DIR/summary.json atomically (mkdir -p DIR), free;
 * then DIR/index.html, the run's report (report.h), from the folder as it is:
 * write summary.json last. */
elbo_status elbo_summary_write(elbo_summary *s, const char *dir);
/* Free without writing. */
void elbo_summary_free(elbo_summary *s);

#endif
