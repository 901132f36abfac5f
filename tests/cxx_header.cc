// cxx_header.cc - gil.h compiles as C++ (-std=c++11 -pedantic) and its inline
// check point works from C++.
#include "gil.h"

#include <cstdio>
#include <cstring>

int main()
{
    gil_t *gil = nullptr;
    gil_config_t cfg;
    gil_config_init(&cfg);
    if (gil_create(&gil, &cfg) != 0)
        return 1;
    gil_tstate_t *ts = nullptr;
    if (gil_tstate_new(gil, "c++", &ts) != 0 || gil_acquire(ts) != 0)
        return 2;
    if (gil_check(ts) != 0)
        return 3;
    GIL_BEGIN_ALLOW_THREADS
    GIL_END_ALLOW_THREADS
    if (!gil_held(gil) || gil_release(ts) != 0 || gil_tstate_delete(ts) != 0 || gil_destroy(gil) != 0)
        return 4;
    if (std::strcmp(gil_err_name(GIL_EPERM), "EPERM") != 0)
        return 5;
    std::printf("gil.h as C++: ok (libgil %s)\n", gil_version_string());
    return 0;
}
