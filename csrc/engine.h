/* csrc/engine.c: the transfers of a Lua state on libcurl's multi interface. */
#ifndef LCM_ENGINE_H
#define LCM_ENGINE_H

#include "pool.h"

/* A lane's multi handle and epoll set, made with the handle (csrc/pool.c); 0 when either
 * cannot be made. lcm_lane_free undoes it (the handle's easy is taken off first). */
int lcm_lane_init(lcm_handle_t *p);
void lcm_lane_free(lcm_handle_t *p);

#endif
