/* train_augment.c - `graft train --augment[=PRESET]`: the augmentation of
 * the training images, by preset name. */
#include "cli.h"

#include <string.h>

/* The preset named s, or -1. */
static int preset_of(const char *s)
{
    for (int p = 0; graft_augment_preset_name(p); p++)
        if (strcmp(graft_augment_preset_name(p), s) == 0) return p;
    return -1;
}

int cliTrainAugmentCheck(cli_args *a)
{
    const char *v = cliOpt(a, "augment");
    if (!v || !*v || preset_of(v) >= 0) return 0;
    cliError("--augment takes none, light, standard or strong, not \"%s\"", v);
    return -1;
}

void cliTrainAugment(cli_args *a, graft_folder_opts *fo, graft_augment_spec *spec)
{
    const char *v = cliOpt(a, "augment");
    fo->augment = 0;
    fo->augment_spec = NULL;
    if (!v) return;
    if (!*v) {
        fo->augment = 1; /* 1.0's --augment: the folder's own fields */
        return;
    }
    int p = preset_of(v);
    if (p <= GRAFT_AUGMENT_PRESET_NONE) return;
    *spec = (graft_augment_spec)GRAFT_AUGMENT_SPEC_INIT;
    /* Checked: a known preset, and fo's size is a valid crop. */
    if (graft_augment_preset(p, fo->width, fo->height, spec) != GRAFT_OK) return;
    fo->augment = 1;
    fo->augment_spec = spec;
}
