/* csrc/error.c: the one error model, for the C files. */
#ifndef LCM_ERROR_H
#define LCM_ERROR_H

#include "compat.h"

/* Pushes a new error object {kind=, code=, message=, retryable=false}; code may be NULL.
 * Further fields are set by the caller with lua_setfield. C reports facts only: retryable
 * is false here so that every error has the field, and only lua/lcm/policy.lua (asked by
 * the client on every failed attempt) makes it true. */
void lcm_error_push(lua_State *L, const char *kind, const char *code, const char *message);

/* Returns nil, err: the convention of every runtime failure. Expects the error on top. */
int lcm_error_return(lua_State *L);

#endif
