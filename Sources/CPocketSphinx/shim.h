// CPocketSphinx: CMU PocketSphinx (Debian's 0.8+5prealpha, libpocketsphinx-dev) and sphinxbase for
// Swift, imported only by HarkCommands. The decoder is configured with cmd_ln_parse_r (an argv
// array), so the variadic cmd_ln_init is never needed and nothing here wraps a function.
#ifndef HARK_CPOCKETSPHINX_SHIM_H
#define HARK_CPOCKETSPHINX_SHIM_H

#include <pocketsphinx.h>
#include <sphinxbase/err.h>

#endif
