/* DIR/index.html: a run's results where users look. Self-contained (no
 * network): the configuration and headline numbers from summary.json, every
 * figure in the folder (SVG and PNG, shown beside the page with <img>), the
 * training curves drawn inline from every CSV (each column against the
 * first), and the other files linked. elbo_summary_write calls
 * elbo_report_write after summary.json, so every driver gets one.
 *
 * A sweep's page (elbo_report_sweep) adds a table of its runs, sortable by
 * any column (a click on its head), each linked to the run's own page, and
 * each metric plotted against each swept flag (every run a point, the mean
 * over the rest a line). */
#ifndef ELBO_EXPERIMENTS_REPORT_H
#define ELBO_EXPERIMENTS_REPORT_H

#include <stddef.h>

#include "ops/error.h"

/* Write DIR/index.html from what DIR holds (summary.json read back). */
elbo_status elbo_report_write(const char *dir);

/* Write DIR/index.html for a sweep: DIR/sweep.csv holds one row per run
 * whose first n_flags columns are the swept flags; the runs' folders are
 * run_dirs (n_runs strings), in the rows' order. */
elbo_status elbo_report_sweep(const char *dir, int n_flags, const char *const *run_dirs, size_t n_runs);

#endif
