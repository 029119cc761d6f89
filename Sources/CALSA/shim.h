// CALSA: alsa-lib (libasound) for Swift, imported only by HarkAudio.
//
// Nothing needs wrapping: HarkAudio uses the *_malloc/*_free forms of the parameter
// allocators (the *_alloca forms are macros Swift cannot call), and every function it calls
// is a plain C function. Add `static inline` wrappers here only for macros or variadics,
// each with a one-line reason.
#ifndef HARK_CALSA_SHIM_H
#define HARK_CALSA_SHIM_H

#include <alsa/asoundlib.h>

#endif
