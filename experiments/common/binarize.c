/* --binarize (binarize.h). */
#include "binarize.h"

elbo_status elbo_binarize_splits(int mode, elbo_dataset *train, elbo_dataset *test, uint64_t train_seed,
                                 uint64_t test_seed)
{
    if (mode == ELBO_BIN_NONE)
        return ELBO_OK;
    elbo_status st = mode == ELBO_BIN_STATIC ? elbo_dataset_binarize(train, train_seed) : ELBO_OK;
    return st == ELBO_OK ? elbo_dataset_binarize(test, test_seed) : st;
}
