/*
 * hark_test: a virtual ALSA control device for Hark's tests, so the real snd_mixer_* code runs
 * without a sound card. An alsa-lib external control plugin (<alsa/control_external.h>).
 *
 * Elements (interface MIXER), which alsa-lib's simple mixer turns into two controls:
 *   "Master Playback Volume"  integer 0..255, 2 channels   } simple control "Master": volume + switch
 *   "Master Playback Switch"  boolean, 2 channels          }
 *   "PCM Playback Volume"     integer 4..35, 1 channel       simple control "PCM": volume, no switch
 *
 * Values live in a text file, one line per element, "<element name>: <value> <value>...", read
 * before every read and rewritten (temp file + rename) after every write. A test can so set the
 * mixer before Hark opens it and read back what Hark wrote, independently of Hark. A missing file
 * means the defaults: Master 128 128, switch on, PCM 20.
 *
 * Configuration (asoundrc):
 *   ctl_type.hark_test { lib "/path/libasound_module_ctl_hark_test.so" }
 *   ctl.NAME { type hark_test; state "/path/state.txt" }
 * Build: cc -shared -fPIC -o libasound_module_ctl_hark_test.so hark_test_ctl.c -lasound
 */
/* A shared object: alsa-lib's SND_CTL_PLUGIN_SYMBOL then exports the versioned entry point. */
#ifndef PIC
#define PIC
#endif

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <alsa/asoundlib.h>
#include <alsa/control_external.h>

#define MAX_CHANNELS 2

struct element {
	const char *name;
	int type; /* SND_CTL_ELEM_TYPE_INTEGER or _BOOLEAN */
	unsigned int channels;
	long min, max, initial;
};

static const struct element elements[] = {
	{ "Master Playback Volume", SND_CTL_ELEM_TYPE_INTEGER, 2, 0, 255, 128 },
	{ "Master Playback Switch", SND_CTL_ELEM_TYPE_BOOLEAN, 2, 0, 1, 1 },
	{ "PCM Playback Volume", SND_CTL_ELEM_TYPE_INTEGER, 1, 4, 35, 20 },
};
#define ELEMENTS (sizeof(elements) / sizeof(elements[0]))

typedef struct {
	snd_ctl_ext_t ext;
	char *path;
	long values[ELEMENTS][MAX_CHANNELS];
} hark_test_t;

/* Fills values from the state file; elements the file lacks keep their defaults. */
static int load(hark_test_t *h)
{
	char line[256];
	FILE *file;
	unsigned int e, c;

	for (e = 0; e < ELEMENTS; e++)
		for (c = 0; c < MAX_CHANNELS; c++)
			h->values[e][c] = elements[e].initial;
	file = fopen(h->path, "r");
	if (!file)
		return errno == ENOENT ? 0 : -errno;
	while (fgets(line, sizeof(line), file)) {
		char *colon = strchr(line, ':');
		if (!colon)
			continue;
		*colon = '\0';
		for (e = 0; e < ELEMENTS; e++) {
			char *p = colon + 1;
			if (strcmp(line, elements[e].name) != 0)
				continue;
			for (c = 0; c < elements[e].channels; c++)
				h->values[e][c] = strtol(p, &p, 10);
		}
	}
	fclose(file);
	return 0;
}

static int store(hark_test_t *h)
{
	char temporary[4096];
	FILE *file;
	unsigned int e, c;

	snprintf(temporary, sizeof(temporary), "%s.tmp", h->path);
	file = fopen(temporary, "w");
	if (!file)
		return -errno;
	for (e = 0; e < ELEMENTS; e++) {
		fprintf(file, "%s:", elements[e].name);
		for (c = 0; c < elements[e].channels; c++)
			fprintf(file, " %ld", h->values[e][c]);
		fprintf(file, "\n");
	}
	if (fclose(file) != 0 || rename(temporary, h->path) != 0)
		return -errno;
	/* Every stored state is also appended to PATH.log, so a test can see what happened between reads. */
	snprintf(temporary, sizeof(temporary), "%s.log", h->path);
	file = fopen(temporary, "a");
	if (file) {
		for (e = 0; e < ELEMENTS; e++) {
			fprintf(file, "%s:", elements[e].name);
			for (c = 0; c < elements[e].channels; c++)
				fprintf(file, " %ld", h->values[e][c]);
			fprintf(file, e + 1 < ELEMENTS ? ";" : "\n");
		}
		fclose(file);
	}
	return 0;
}

static void hark_close(snd_ctl_ext_t *ext)
{
	hark_test_t *h = ext->private_data;
	free(h->path);
	free(h);
}

static int hark_elem_count(snd_ctl_ext_t *ext)
{
	(void)ext;
	return ELEMENTS;
}

static int hark_elem_list(snd_ctl_ext_t *ext, unsigned int offset, snd_ctl_elem_id_t *id)
{
	(void)ext;
	if (offset >= ELEMENTS)
		return -EINVAL;
	snd_ctl_elem_id_set_interface(id, SND_CTL_ELEM_IFACE_MIXER);
	snd_ctl_elem_id_set_name(id, elements[offset].name);
	return 0;
}

static snd_ctl_ext_key_t hark_find_elem(snd_ctl_ext_t *ext, const snd_ctl_elem_id_t *id)
{
	unsigned int e;
	(void)ext;
	for (e = 0; e < ELEMENTS; e++)
		if (strcmp(snd_ctl_elem_id_get_name(id), elements[e].name) == 0)
			return e;
	return SND_CTL_EXT_KEY_NOT_FOUND;
}

static int hark_get_attribute(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, int *type, unsigned int *acc,
			      unsigned int *count)
{
	(void)ext;
	if (key >= ELEMENTS)
		return -EINVAL;
	*type = elements[key].type;
	*acc = SND_CTL_EXT_ACCESS_READWRITE;
	*count = elements[key].channels;
	return 0;
}

static int hark_get_integer_info(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *imin, long *imax,
				 long *istep)
{
	(void)ext;
	if (key >= ELEMENTS)
		return -EINVAL;
	*imin = elements[key].min;
	*imax = elements[key].max;
	*istep = 1;
	return 0;
}

static int hark_read_integer(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *value)
{
	hark_test_t *h = ext->private_data;
	unsigned int c;
	int err;

	if (key >= ELEMENTS)
		return -EINVAL;
	err = load(h);
	if (err < 0)
		return err;
	for (c = 0; c < elements[key].channels; c++)
		value[c] = h->values[key][c];
	return 0;
}

/* Returns 1 when a value changed, 0 when none did (as the kernel's put callbacks do). */
static int hark_write_integer(snd_ctl_ext_t *ext, snd_ctl_ext_key_t key, long *value)
{
	hark_test_t *h = ext->private_data;
	unsigned int c;
	int changed = 0, err;

	if (key >= ELEMENTS)
		return -EINVAL;
	err = load(h);
	if (err < 0)
		return err;
	for (c = 0; c < elements[key].channels; c++) {
		if (value[c] < elements[key].min || value[c] > elements[key].max)
			return -EINVAL;
		changed |= h->values[key][c] != value[c];
		h->values[key][c] = value[c];
	}
	err = store(h);
	return err < 0 ? err : changed;
}

static const snd_ctl_ext_callback_t callbacks = {
	.close = hark_close,
	.elem_count = hark_elem_count,
	.elem_list = hark_elem_list,
	.find_elem = hark_find_elem,
	.get_attribute = hark_get_attribute,
	.get_integer_info = hark_get_integer_info,
	.read_integer = hark_read_integer,
	.write_integer = hark_write_integer,
};

SND_CTL_PLUGIN_DEFINE_FUNC(hark_test)
{
	snd_config_iterator_t i, next;
	const char *state = NULL;
	hark_test_t *h;
	int err;

	(void)root;
	snd_config_for_each(i, next, conf) {
		snd_config_t *n = snd_config_iterator_entry(i);
		const char *id;
		if (snd_config_get_id(n, &id) < 0)
			continue;
		if (strcmp(id, "comment") == 0 || strcmp(id, "type") == 0 || strcmp(id, "hint") == 0)
			continue;
		if (strcmp(id, "state") == 0 && snd_config_get_string(n, &state) >= 0)
			continue;
		SNDERR("hark_test: unknown or invalid field %s", id);
		return -EINVAL;
	}
	if (!state) {
		SNDERR("hark_test: no state file given");
		return -EINVAL;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->path = strdup(state);
	if (!h->path) {
		free(h);
		return -ENOMEM;
	}
	h->ext.version = SND_CTL_EXT_VERSION;
	h->ext.card_idx = 0;
	strncpy(h->ext.id, "HarkTest", sizeof(h->ext.id) - 1);
	strncpy(h->ext.driver, "hark_test", sizeof(h->ext.driver) - 1);
	strncpy(h->ext.name, "Hark test mixer", sizeof(h->ext.name) - 1);
	strncpy(h->ext.longname, "Hark virtual mixer for tests", sizeof(h->ext.longname) - 1);
	strncpy(h->ext.mixername, "Hark test mixer", sizeof(h->ext.mixername) - 1);
	h->ext.poll_fd = -1;
	h->ext.callback = &callbacks;
	h->ext.private_data = h;
	err = snd_ctl_ext_create(&h->ext, name, mode);
	if (err < 0) {
		free(h->path);
		free(h);
		return err;
	}
	*handlep = h->ext.handle;
	return 0;
}

SND_CTL_PLUGIN_SYMBOL(hark_test);
