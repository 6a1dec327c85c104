/* lcm-embed: the server process. Like Asterisk loading pbx_lua and FreeSWITCH loading
 * mod_lua, it does not link liblua itself: it loads the PBX module (embed/host.c, which
 * does) with RTLD_GLOBAL, so liblua's symbols are global, and never unloads it (mod_lua
 * cannot be unloaded). The module sits next to this program as lcm-embed-pbx.so. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 32);
    char *slash;
    void *module;
    int (*pbx_main)(int, char **);
    if (n <= 0)
        return 1;
    path[n] = '\0';
    slash = strrchr(path, '/');
    strcpy(slash != NULL ? slash + 1 : path, "lcm-embed-pbx.so");
    module = dlopen(path, RTLD_NOW | RTLD_GLOBAL);
    if (module == NULL) {
        fprintf(stderr, "lcm-embed: %s\n", dlerror());
        return 1;
    }
    *(void **)&pbx_main = dlsym(module, "lcm_embed_main");
    if (pbx_main == NULL) {
        fprintf(stderr, "lcm-embed: %s\n", dlerror());
        return 1;
    }
    return pbx_main(argc, argv);
}
