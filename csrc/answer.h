/* csrc/answer.c: reading answers. */
#ifndef LCM_ANSWER_H
#define LCM_ANSWER_H

#include "compat.h"

/* Pushes t[name], falling back to a case-insensitive match on string keys (the vendor's
 * answers spell the same key several ways: OutComeID, OutcomeId...), and returns its type;
 * nil for a key that is not there and for JSON null, which counts as absent. */
int lcm_getfield_ci(lua_State *L, int t, const char *name);
/* The same, with the key at index k (a string): no interning of the name per lookup. */
int lcm_getfield_ci_at(lua_State *L, int t, int k);

#endif
