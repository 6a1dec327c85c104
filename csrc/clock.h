/* csrc/clock.c: time for the C files. */
#ifndef LCM_CLOCK_H
#define LCM_CLOCK_H


/* CLOCK_MONOTONIC in milliseconds (csrc/clock.c): deadlines and idle times. */
double lcm_monotonic_ms(void);

#endif
