/* csrc/process.c: what lcm.core sets up once per process. */
#ifndef LCM_PROCESS_H
#define LCM_PROCESS_H

#include <curl/curl.h>

/* The process layer (csrc/process.c): curl_global_init, the pool, the pin and the fork
 * handlers, once per process; returns curl_global_init's status. */
CURLcode lcm_process_curl(void);

/* What each file that keeps a process-wide lock does around a fork() (csrc/process.c
 * calls them: PREPARE takes the lock, PARENT and CHILD release it). */
typedef enum { LCM_FORK_PREPARE, LCM_FORK_PARENT, LCM_FORK_CHILD } lcm_fork_t;
void lcm_pool_fork(lcm_fork_t phase);
void lcm_budget_fork(lcm_fork_t phase);
void lcm_stats_fork(lcm_fork_t phase);

#endif
