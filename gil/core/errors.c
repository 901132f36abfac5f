/*
 * core/errors.c - error names and messages, versions, the misuse checker.
 *
 * Layer: core.
 */
#include "core/core.h"

#include <stdio.h>
#include <stdlib.h>

#define GIL__STR2(x) #x
#define GIL__STR(x) GIL__STR2(x)

const char *gil_version_string(void)
{
    return GIL__STR(GIL_VERSION_MAJOR) "." GIL__STR(GIL_VERSION_MINOR) "." GIL__STR(GIL_VERSION_PATCH);
}

unsigned gil_version(void)
{
    return GIL_VERSION_HEX;
}

const char *gil_strerror(int err)
{
    switch (err) {
#define GIL__ERR_MSG(name, val, msg) case GIL_##name: return msg;
        GIL_ERRNO_MAP(GIL__ERR_MSG)
#undef GIL__ERR_MSG
    case 0: return "success";
    default: return "unknown error";
    }
}

const char *gil_err_name(int err)
{
    switch (err) {
#define GIL__ERR_NAME(name, val, msg) case GIL_##name: return #name;
        GIL_ERRNO_MAP(GIL__ERR_NAME)
#undef GIL__ERR_NAME
    case 0: return "OK";
    default: return "UNKNOWN";
    }
}

int gil__misuse(const char *fn, int err)
{
#ifdef GIL_DEBUG
    /* GIL_DEBUG_NOABORT=1 lets a test suite check the error codes of a
     * checker build. */
    const char *noabort = getenv("GIL_DEBUG_NOABORT");
    if (noabort != NULL && noabort[0] == '1')
        return err;
    char name[32] = "?";
    pthread_getname_np(pthread_self(), name, sizeof name);
    gil__fatal("%s: %s (%s) in thread %lu \"%s\"", fn, gil_err_name(err), gil_strerror(err),
               (unsigned long)pthread_self(), name);
#else
    (void)fn;
    return err;
#endif
}
