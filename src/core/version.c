/* version.c - run-time version and capability queries. */
#include "internal.h"

GRAFT_API int graft_version_number(void) { return GRAFT_VERSION_NUMBER; }

GRAFT_API const char *graft_version_string(void) { return GRAFT_VERSION_STRING; }

GRAFT_API int graft_has_blas(void)
{
#ifdef GRAFT_NO_BLAS
    return 0;
#else
    return 1;
#endif
}

GRAFT_API const char *graft_blas_core_name(void) { return graftBlasCoreName(); }
