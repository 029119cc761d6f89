// CMosquitto: libmosquitto (the Eclipse Mosquitto MQTT client library) for Swift, imported only by
// HarkDevices. Every function HarkDevices calls is a plain C function; nothing needs wrapping.
#ifndef HARK_CMOSQUITTO_SHIM_H
#define HARK_CMOSQUITTO_SHIM_H

#include <mosquitto.h>

#endif
