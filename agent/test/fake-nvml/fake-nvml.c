/*
 * A fake libnvidia-ml.so.1 for the agent's tests. It exports the symbols the
 * agent binds, with the signatures of nvml.h (types declared locally, no NVIDIA
 * header), and keeps the library's contract: UNINITIALIZED before init and
 * after the last shutdown, ref-counted init, INVALID_ARGUMENT for foreign or
 * stale handles, INSUFFICIENT_SIZE for short buffers, ARGUMENT_VERSION_MISMATCH
 * for a wrong struct version.
 *
 * Values come from the `key = value` file named by FAKE_NVML_CONFIG, re-read at
 * init and whenever the file changes. A missing key is NOT_SUPPORTED; a value
 * `ERR_<NAME>` returns that code. See agent/test/helpers/fake-nvml.ts for the keys.
 *
 * Build variants (-D):
 *   FAKE_OLD_DRIVER  no nvmlDeviceGetMemoryInfo_v2, no _v3 process list, no
 *                    ClocksEventReasons, no TemperatureV (a pre-530 driver)
 *   FAKE_STRIDE32    the _v3 process list writes 32-byte entries, and the
 *                    symbol set is that of drivers 535.43-535.86
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

typedef int nvmlReturn_t;
typedef void *nvmlDevice_t;

#define EXPORT __attribute__((visibility("default")))

enum {
  RC_SUCCESS = 0,
  RC_UNINITIALIZED = 1,
  RC_INVALID_ARGUMENT = 2,
  RC_NOT_SUPPORTED = 3,
  RC_NOT_FOUND = 6,
  RC_INSUFFICIENT_SIZE = 7,
  RC_GPU_IS_LOST = 15,
  RC_ARGUMENT_VERSION_MISMATCH = 25,
  RC_UNKNOWN = 999,
};

static const struct {
  const char *name;
  int code;
} ERRORS[] = {
    {"SUCCESS", 0}, {"UNINITIALIZED", 1}, {"INVALID_ARGUMENT", 2}, {"NOT_SUPPORTED", 3},
    {"NO_PERMISSION", 4}, {"ALREADY_INITIALIZED", 5}, {"NOT_FOUND", 6}, {"INSUFFICIENT_SIZE", 7},
    {"INSUFFICIENT_POWER", 8}, {"DRIVER_NOT_LOADED", 9}, {"TIMEOUT", 10}, {"IRQ_ISSUE", 11},
    {"LIBRARY_NOT_FOUND", 12}, {"FUNCTION_NOT_FOUND", 13}, {"CORRUPTED_INFOROM", 14},
    {"GPU_IS_LOST", 15}, {"RESET_REQUIRED", 16}, {"OPERATING_SYSTEM", 17},
    {"LIB_RM_VERSION_MISMATCH", 18}, {"IN_USE", 19}, {"MEMORY", 20}, {"NO_DATA", 21},
    {"ARGUMENT_VERSION_MISMATCH", 25}, {"UNKNOWN", 999},
};

/* ---- configuration file ---- */

#define MAX_ENTRIES 2048
static char *cfg_keys[MAX_ENTRIES];
static char *cfg_vals[MAX_ENTRIES];
static int cfg_n = 0;
static struct stat cfg_stat;
static int cfg_loaded = 0;

static char *trim(char *s) {
  while (*s == ' ' || *s == '\t') s++;
  char *e = s + strlen(s);
  while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r')) *--e = 0;
  return s;
}

static void cfg_clear(void) {
  for (int i = 0; i < cfg_n; i++) {
    free(cfg_keys[i]);
    free(cfg_vals[i]);
  }
  cfg_n = 0;
}

/* Re-reads the file when its identity, size or mtime changed (tests rename a new file in place). */
static void cfg_reload(int force) {
  const char *path = getenv("FAKE_NVML_CONFIG");
  if (path == NULL) return;
  struct stat st;
  if (stat(path, &st) != 0) {
    cfg_clear();
    cfg_loaded = 0;
    return;
  }
  if (!force && cfg_loaded && st.st_ino == cfg_stat.st_ino && st.st_size == cfg_stat.st_size &&
      st.st_mtim.tv_sec == cfg_stat.st_mtim.tv_sec && st.st_mtim.tv_nsec == cfg_stat.st_mtim.tv_nsec)
    return;
  FILE *f = fopen(path, "r");
  if (f == NULL) return;
  cfg_clear();
  char line[1024];
  while (fgets(line, sizeof line, f) != NULL && cfg_n < MAX_ENTRIES) {
    char *s = trim(line);
    if (*s == 0 || *s == '#') continue;
    char *eq = strchr(s, '=');
    if (eq == NULL) continue;
    *eq = 0;
    cfg_keys[cfg_n] = strdup(trim(s));
    cfg_vals[cfg_n] = strdup(trim(eq + 1));
    cfg_n++;
  }
  fclose(f);
  cfg_stat = st;
  cfg_loaded = 1;
}

static const char *cfg(const char *key) {
  for (int i = cfg_n - 1; i >= 0; i--)
    if (strcmp(cfg_keys[i], key) == 0) return cfg_vals[i];
  return NULL;
}

static int error_code(const char *v) {
  for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++)
    if (strcmp(v + 4, ERRORS[i].name) == 0) return ERRORS[i].code;
  return RC_UNKNOWN;
}

/* ---- library state ---- */

#define MAX_GPUS 16
#define MAX_MIG 8
#define HANDLE_BASE 0x10000000ULL

static int refcount = 0;
static unsigned long long generation = 0;
static unsigned long long calls_on_gpu[MAX_GPUS];
static int gpu_lost[MAX_GPUS];

static void call_log(const char *sym, int gpu, int rc) {
  const char *path = getenv("FAKE_NVML_LOG");
  if (path == NULL) return;
  int fd = open(path, O_WRONLY | O_APPEND | O_CREAT, 0644);
  if (fd < 0) return;
  char buf[256];
  int n = gpu < 0 ? snprintf(buf, sizeof buf, "%d %s - %d\n", (int)getpid(), sym, rc)
                  : snprintf(buf, sizeof buf, "%d %s %d %d\n", (int)getpid(), sym, gpu, rc);
  if (n > 0) (void)!write(fd, buf, (size_t)n);
  close(fd);
}

static void maybe_delay(const char *sym) {
  char key[160];
  snprintf(key, sizeof key, "delay_ms.%s", sym);
  const char *v = cfg(key);
  if (v == NULL) return;
  long ms = strtol(v, NULL, 10);
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static long long cfg_int(const char *key, long long dflt) {
  const char *v = cfg(key);
  return v == NULL ? dflt : strtoll(v, NULL, 0);
}

static int device_count(void) {
  long long n = cfg_int("device_count", 0);
  return n < 0 ? 0 : n > MAX_GPUS ? MAX_GPUS : (int)n;
}

static int mig_count(int gpu) {
  char key[64];
  snprintf(key, sizeof key, "gpu.%d.mig_count", gpu);
  long long n = cfg_int(key, 0);
  return n < 0 ? 0 : n > MAX_MIG ? MAX_MIG : (int)n;
}

static nvmlDevice_t make_handle(int gpu, int mig) {
  return (nvmlDevice_t)(uintptr_t)(HANDLE_BASE + (generation << 12) + ((unsigned long long)gpu << 4) + (unsigned long long)(mig + 1));
}

/* A handle from this init cycle for an existing device, else -1. */
static int decode_handle(nvmlDevice_t h, int *gpu, int *mig) {
  uintptr_t v = (uintptr_t)h;
  if (v < HANDLE_BASE) return -1;
  v -= HANDLE_BASE;
  if ((v >> 12) != generation) return -1;
  *gpu = (int)((v >> 4) & 0xff);
  *mig = (int)(v & 0xf) - 1;
  if (*gpu >= device_count()) return -1;
  if (*mig >= 0 && *mig >= mig_count(*gpu)) return -1;
  return 0;
}

/* The checks every call goes through; returns nonzero to return early with *rc. */
static int enter(const char *sym, int gpu, nvmlReturn_t *rc) {
  cfg_reload(0);
  maybe_delay(sym);
  if (refcount == 0) {
    *rc = RC_UNINITIALIZED;
    return 1;
  }
  char key[192];
  const char *forced = NULL;
  if (gpu >= 0) {
    snprintf(key, sizeof key, "rc.%s.%d", sym, gpu);
    forced = cfg(key);
  }
  if (forced == NULL) {
    snprintf(key, sizeof key, "rc.%s", sym);
    forced = cfg(key);
  }
  if (forced != NULL && strncmp(forced, "ERR_", 4) == 0) {
    *rc = error_code(forced);
    return 1;
  }
  if (gpu >= 0) {
    calls_on_gpu[gpu]++;
    snprintf(key, sizeof key, "gpu.%d.lost_after_calls", gpu);
    long long k = cfg_int(key, -1);
    if (k >= 0 && calls_on_gpu[gpu] > (unsigned long long)k) gpu_lost[gpu] = 1;
    if (gpu_lost[gpu]) {
      *rc = RC_GPU_IS_LOST;
      return 1;
    }
  }
  return 0;
}

static nvmlReturn_t done(const char *sym, int gpu, nvmlReturn_t rc) {
  call_log(sym, gpu, rc);
  return rc;
}

/* Device-scoped prologue: validates the handle, runs the common checks, builds the key prefix. */
#define DEVICE_CALL(sym, handle)                                                          \
  int gpu = -1, mig = -1;                                                                 \
  nvmlReturn_t rc = RC_SUCCESS;                                                           \
  char prefix[64];                                                                        \
  cfg_reload(0);                                                                          \
  if (refcount == 0) return done(sym, -1, RC_UNINITIALIZED);                              \
  if (decode_handle((handle), &gpu, &mig) != 0) return done(sym, -1, RC_INVALID_ARGUMENT); \
  if (enter(sym, gpu, &rc)) return done(sym, gpu, rc);                                    \
  if (mig < 0)                                                                            \
    snprintf(prefix, sizeof prefix, "gpu.%d.", gpu);                                      \
  else                                                                                    \
    snprintf(prefix, sizeof prefix, "gpu.%d.mig.%d.", gpu, mig);

/* A device value: SUCCESS and *out, NOT_SUPPORTED when the key is missing, or the ERR_ code. */
static nvmlReturn_t dev_value(const char *prefix, const char *field, const char **out) {
  char key[160];
  snprintf(key, sizeof key, "%s%s", prefix, field);
  const char *v = cfg(key);
  if (v == NULL) return RC_NOT_SUPPORTED;
  if (strncmp(v, "ERR_", 4) == 0) return error_code(v);
  *out = v;
  return RC_SUCCESS;
}

static nvmlReturn_t dev_u64(const char *prefix, const char *field, unsigned long long *out) {
  const char *v = NULL;
  nvmlReturn_t rc = dev_value(prefix, field, &v);
  if (rc == RC_SUCCESS) *out = strtoull(v, NULL, 0);
  return rc;
}

static nvmlReturn_t dev_uint(const char *prefix, const char *field, unsigned int *out) {
  unsigned long long v = 0;
  nvmlReturn_t rc = dev_u64(prefix, field, &v);
  if (rc == RC_SUCCESS) *out = (unsigned int)v;
  return rc;
}

static nvmlReturn_t copy_string(const char *v, char *buf, unsigned int len) {
  if (buf == NULL) return RC_INVALID_ARGUMENT;
  if (strlen(v) + 1 > len) return RC_INSUFFICIENT_SIZE;
  memcpy(buf, v, strlen(v) + 1);
  return RC_SUCCESS;
}

/* ---- system ---- */

EXPORT nvmlReturn_t nvmlInit_v2(void) {
  cfg_reload(1);
  maybe_delay("nvmlInit_v2");
  const char *forced = cfg("init_rc");
  if (forced != NULL && strncmp(forced, "ERR_", 4) == 0) return done("nvmlInit_v2", -1, error_code(forced));
  if (refcount == 0) {
    generation++;
    memset(calls_on_gpu, 0, sizeof calls_on_gpu);
    memset(gpu_lost, 0, sizeof gpu_lost);
  }
  refcount++;
  return done("nvmlInit_v2", -1, RC_SUCCESS);
}

EXPORT nvmlReturn_t nvmlShutdown(void) {
  if (refcount == 0) return done("nvmlShutdown", -1, RC_UNINITIALIZED);
  refcount--;
  return done("nvmlShutdown", -1, RC_SUCCESS);
}

EXPORT const char *nvmlErrorString(nvmlReturn_t rc) {
  for (size_t i = 0; i < sizeof ERRORS / sizeof ERRORS[0]; i++)
    if (ERRORS[i].code == rc) return ERRORS[i].name;
  return "UNKNOWN_ERROR_CODE";
}

static nvmlReturn_t system_string(const char *sym, const char *key, char *buf, unsigned int len) {
  nvmlReturn_t rc;
  if (enter(sym, -1, &rc)) return done(sym, -1, rc);
  const char *v = cfg(key);
  if (v == NULL) return done(sym, -1, RC_NOT_SUPPORTED);
  if (strncmp(v, "ERR_", 4) == 0) return done(sym, -1, error_code(v));
  return done(sym, -1, copy_string(v, buf, len));
}

EXPORT nvmlReturn_t nvmlSystemGetDriverVersion(char *buf, unsigned int len) {
  return system_string("nvmlSystemGetDriverVersion", "driver_version", buf, len);
}

EXPORT nvmlReturn_t nvmlSystemGetNVMLVersion(char *buf, unsigned int len) {
  return system_string("nvmlSystemGetNVMLVersion", "nvml_version", buf, len);
}

static nvmlReturn_t cuda_version(const char *sym, int *out) {
  nvmlReturn_t rc;
  if (enter(sym, -1, &rc)) return done(sym, -1, rc);
  if (out == NULL) return done(sym, -1, RC_INVALID_ARGUMENT);
  const char *v = cfg("cuda_driver_version");
  if (v == NULL) return done(sym, -1, RC_NOT_SUPPORTED);
  *out = (int)strtol(v, NULL, 10);
  return done(sym, -1, RC_SUCCESS);
}

EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion_v2(int *out) { return cuda_version("nvmlSystemGetCudaDriverVersion_v2", out); }
EXPORT nvmlReturn_t nvmlSystemGetCudaDriverVersion(int *out) { return cuda_version("nvmlSystemGetCudaDriverVersion", out); }

EXPORT nvmlReturn_t nvmlDeviceGetCount_v2(unsigned int *count) {
  nvmlReturn_t rc;
  if (enter("nvmlDeviceGetCount_v2", -1, &rc)) return done("nvmlDeviceGetCount_v2", -1, rc);
  if (count == NULL) return done("nvmlDeviceGetCount_v2", -1, RC_INVALID_ARGUMENT);
  *count = (unsigned int)device_count();
  return done("nvmlDeviceGetCount_v2", -1, RC_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetHandleByIndex_v2(unsigned int index, nvmlDevice_t *device) {
  const char *sym = "nvmlDeviceGetHandleByIndex_v2";
  nvmlReturn_t rc;
  cfg_reload(0);
  if (refcount == 0) return done(sym, -1, RC_UNINITIALIZED);
  if (device == NULL || index >= (unsigned int)device_count()) return done(sym, -1, RC_INVALID_ARGUMENT);
  if (enter(sym, (int)index, &rc)) return done(sym, (int)index, rc);
  *device = make_handle((int)index, -1);
  return done(sym, (int)index, RC_SUCCESS);
}

/* ---- device identity ---- */

static nvmlReturn_t device_string(const char *sym, nvmlDevice_t d, const char *field, char *buf, unsigned int len) {
  DEVICE_CALL(sym, d)
  const char *v = NULL;
  rc = dev_value(prefix, field, &v);
  if (rc == RC_SUCCESS) rc = copy_string(v, buf, len);
  return done(sym, gpu, rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetName(nvmlDevice_t d, char *buf, unsigned int len) {
  return device_string("nvmlDeviceGetName", d, "name", buf, len);
}

EXPORT nvmlReturn_t nvmlDeviceGetUUID(nvmlDevice_t d, char *buf, unsigned int len) {
  return device_string("nvmlDeviceGetUUID", d, "uuid", buf, len);
}

/* nvmlPciInfo_t (v3, 68 bytes): busIdLegacy[16], domain, bus, device, pciDeviceId, pciSubSystemId, busId[32]. */
EXPORT nvmlReturn_t nvmlDeviceGetPciInfo_v3(nvmlDevice_t d, unsigned char *pci) {
  DEVICE_CALL("nvmlDeviceGetPciInfo_v3", d)
  const char *v = NULL;
  if (pci == NULL) return done("nvmlDeviceGetPciInfo_v3", gpu, RC_INVALID_ARGUMENT);
  rc = dev_value(prefix, "pci_bus_id", &v);
  if (rc == RC_SUCCESS) {
    unsigned int dom = 0, bus = 0, dev = 0, fn = 0;
    sscanf(v, "%x:%x:%x.%x", &dom, &bus, &dev, &fn);
    memset(pci, 0, 68);
    snprintf((char *)pci, 16, "%04x:%02x:%02x.%x", dom & 0xffff, bus, dev, fn);
    memcpy(pci + 16, &dom, 4);
    memcpy(pci + 20, &bus, 4);
    memcpy(pci + 24, &dev, 4);
    snprintf((char *)pci + 36, 32, "%s", v);
  }
  return done("nvmlDeviceGetPciInfo_v3", gpu, rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetCudaComputeCapability(nvmlDevice_t d, int *major, int *minor) {
  DEVICE_CALL("nvmlDeviceGetCudaComputeCapability", d)
  const char *v = NULL;
  if (major == NULL || minor == NULL) return done("nvmlDeviceGetCudaComputeCapability", gpu, RC_INVALID_ARGUMENT);
  rc = dev_value(prefix, "compute_capability", &v);
  if (rc == RC_SUCCESS && sscanf(v, "%d.%d", major, minor) != 2) rc = RC_UNKNOWN;
  return done("nvmlDeviceGetCudaComputeCapability", gpu, rc);
}

/* ---- device metrics ---- */

/* nvmlUtilization_t: unsigned int gpu, memory. */
EXPORT nvmlReturn_t nvmlDeviceGetUtilizationRates(nvmlDevice_t d, unsigned int *util) {
  DEVICE_CALL("nvmlDeviceGetUtilizationRates", d)
  if (util == NULL) return done("nvmlDeviceGetUtilizationRates", gpu, RC_INVALID_ARGUMENT);
  unsigned int g = 0, m = 0;
  rc = dev_uint(prefix, "util_gpu", &g);
  if (rc == RC_SUCCESS) rc = dev_uint(prefix, "util_mem", &m);
  if (rc == RC_SUCCESS) {
    util[0] = g;
    util[1] = m;
  }
  return done("nvmlDeviceGetUtilizationRates", gpu, rc);
}

static nvmlReturn_t memory_values(const char *prefix, unsigned long long *total, unsigned long long *used, unsigned long long *reserved) {
  nvmlReturn_t rc = dev_u64(prefix, "mem_total", total);
  if (rc == RC_SUCCESS) rc = dev_u64(prefix, "mem_used", used);
  *reserved = 0;
  if (rc == RC_SUCCESS) {
    nvmlReturn_t r = dev_u64(prefix, "mem_reserved", reserved);
    if (r != RC_SUCCESS && r != RC_NOT_SUPPORTED) rc = r;
  }
  return rc;
}

/* nvmlMemory_t (v1, 24 bytes): total, free, used; "used" includes the reserved memory. */
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo(nvmlDevice_t d, unsigned long long *mem) {
  DEVICE_CALL("nvmlDeviceGetMemoryInfo", d)
  if (mem == NULL) return done("nvmlDeviceGetMemoryInfo", gpu, RC_INVALID_ARGUMENT);
  unsigned long long total = 0, used = 0, reserved = 0;
  rc = memory_values(prefix, &total, &used, &reserved);
  if (rc == RC_SUCCESS) {
    mem[0] = total;
    mem[1] = total - used - reserved;
    mem[2] = used + reserved;
  }
  return done("nvmlDeviceGetMemoryInfo", gpu, rc);
}

#ifndef FAKE_OLD_DRIVER
/* nvmlMemory_v2_t (40 bytes): unsigned int version (+pad), total, reserved, free, used. */
EXPORT nvmlReturn_t nvmlDeviceGetMemoryInfo_v2(nvmlDevice_t d, unsigned char *mem) {
  DEVICE_CALL("nvmlDeviceGetMemoryInfo_v2", d)
  if (mem == NULL) return done("nvmlDeviceGetMemoryInfo_v2", gpu, RC_INVALID_ARGUMENT);
  unsigned int version;
  memcpy(&version, mem, 4);
  if (version != 0x02000028u) return done("nvmlDeviceGetMemoryInfo_v2", gpu, RC_ARGUMENT_VERSION_MISMATCH);
  unsigned long long total = 0, used = 0, reserved = 0;
  rc = memory_values(prefix, &total, &used, &reserved);
  if (rc == RC_SUCCESS) {
    unsigned long long v[4] = {total, reserved, total - used - reserved, used};
    memcpy(mem + 8, v, sizeof v);
  }
  return done("nvmlDeviceGetMemoryInfo_v2", gpu, rc);
}

/* nvmlTemperature_v1_t (12 bytes): unsigned int version, sensorType, int temperature. */
EXPORT nvmlReturn_t nvmlDeviceGetTemperatureV(nvmlDevice_t d, unsigned int *temp) {
  DEVICE_CALL("nvmlDeviceGetTemperatureV", d)
  if (temp == NULL) return done("nvmlDeviceGetTemperatureV", gpu, RC_INVALID_ARGUMENT);
  if (temp[0] != 0x0100000Cu) return done("nvmlDeviceGetTemperatureV", gpu, RC_ARGUMENT_VERSION_MISMATCH);
  if (temp[1] != 0) return done("nvmlDeviceGetTemperatureV", gpu, RC_NOT_SUPPORTED);
  const char *v = NULL;
  rc = dev_value(prefix, "temp_c", &v);
  if (rc == RC_SUCCESS) {
    int t = (int)strtol(v, NULL, 10);
    memcpy(&temp[2], &t, 4);
  }
  return done("nvmlDeviceGetTemperatureV", gpu, rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksEventReasons(nvmlDevice_t d, unsigned long long *reasons) {
  DEVICE_CALL("nvmlDeviceGetCurrentClocksEventReasons", d)
  if (reasons == NULL) return done("nvmlDeviceGetCurrentClocksEventReasons", gpu, RC_INVALID_ARGUMENT);
  return done("nvmlDeviceGetCurrentClocksEventReasons", gpu, dev_u64(prefix, "event_reasons", reasons));
}
#endif

EXPORT nvmlReturn_t nvmlDeviceGetTemperature(nvmlDevice_t d, int sensor, unsigned int *temp) {
  DEVICE_CALL("nvmlDeviceGetTemperature", d)
  if (temp == NULL) return done("nvmlDeviceGetTemperature", gpu, RC_INVALID_ARGUMENT);
  if (sensor != 0) return done("nvmlDeviceGetTemperature", gpu, RC_NOT_SUPPORTED);
  return done("nvmlDeviceGetTemperature", gpu, dev_uint(prefix, "temp_c", temp));
}

EXPORT nvmlReturn_t nvmlDeviceGetCurrentClocksThrottleReasons(nvmlDevice_t d, unsigned long long *reasons) {
  DEVICE_CALL("nvmlDeviceGetCurrentClocksThrottleReasons", d)
  if (reasons == NULL) return done("nvmlDeviceGetCurrentClocksThrottleReasons", gpu, RC_INVALID_ARGUMENT);
  return done("nvmlDeviceGetCurrentClocksThrottleReasons", gpu, dev_u64(prefix, "event_reasons", reasons));
}

#define UINT_GETTER(sym, field)                                 \
  EXPORT nvmlReturn_t sym(nvmlDevice_t d, unsigned int *out) {  \
    DEVICE_CALL(#sym, d)                                        \
    if (out == NULL) return done(#sym, gpu, RC_INVALID_ARGUMENT); \
    return done(#sym, gpu, dev_uint(prefix, field, out));       \
  }

UINT_GETTER(nvmlDeviceGetPowerUsage, "power_mw")
UINT_GETTER(nvmlDeviceGetEnforcedPowerLimit, "power_limit_mw")
UINT_GETTER(nvmlDeviceGetFanSpeed, "fan_pct")

EXPORT nvmlReturn_t nvmlDeviceGetPerformanceState(nvmlDevice_t d, int *out) {
  DEVICE_CALL("nvmlDeviceGetPerformanceState", d)
  if (out == NULL) return done("nvmlDeviceGetPerformanceState", gpu, RC_INVALID_ARGUMENT);
  unsigned int v = 0;
  rc = dev_uint(prefix, "pstate", &v);
  if (rc == RC_SUCCESS) *out = (int)v;
  return done("nvmlDeviceGetPerformanceState", gpu, rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEnergyConsumption(nvmlDevice_t d, unsigned long long *out) {
  DEVICE_CALL("nvmlDeviceGetTotalEnergyConsumption", d)
  if (out == NULL) return done("nvmlDeviceGetTotalEnergyConsumption", gpu, RC_INVALID_ARGUMENT);
  return done("nvmlDeviceGetTotalEnergyConsumption", gpu, dev_u64(prefix, "energy_mj", out));
}

static const char *clock_field(int type, int max) {
  switch (type) {
    case 0: return max ? "max_clock_graphics" : "clock_graphics";
    case 1: return max ? "max_clock_sm" : "clock_sm";
    case 2: return max ? "max_clock_mem" : "clock_mem";
    default: return NULL;
  }
}

EXPORT nvmlReturn_t nvmlDeviceGetClockInfo(nvmlDevice_t d, int type, unsigned int *out) {
  DEVICE_CALL("nvmlDeviceGetClockInfo", d)
  const char *field = clock_field(type, 0);
  if (out == NULL || field == NULL) return done("nvmlDeviceGetClockInfo", gpu, RC_INVALID_ARGUMENT);
  return done("nvmlDeviceGetClockInfo", gpu, dev_uint(prefix, field, out));
}

EXPORT nvmlReturn_t nvmlDeviceGetMaxClockInfo(nvmlDevice_t d, int type, unsigned int *out) {
  DEVICE_CALL("nvmlDeviceGetMaxClockInfo", d)
  const char *field = clock_field(type, 1);
  if (out == NULL || field == NULL) return done("nvmlDeviceGetMaxClockInfo", gpu, RC_INVALID_ARGUMENT);
  return done("nvmlDeviceGetMaxClockInfo", gpu, dev_uint(prefix, field, out));
}

/* The real call samples over a 20 ms window and blocks for it. */
EXPORT nvmlReturn_t nvmlDeviceGetPcieThroughput(nvmlDevice_t d, int counter, unsigned int *out) {
  DEVICE_CALL("nvmlDeviceGetPcieThroughput", d)
  if (out == NULL || counter < 0 || counter > 1) return done("nvmlDeviceGetPcieThroughput", gpu, RC_INVALID_ARGUMENT);
  rc = dev_uint(prefix, counter == 0 ? "pcie_tx_kbps" : "pcie_rx_kbps", out);
  if (rc == RC_SUCCESS) {
    struct timespec ts = {0, 20000000L};
    nanosleep(&ts, NULL);
  }
  return done("nvmlDeviceGetPcieThroughput", gpu, rc);
}

static nvmlReturn_t codec(const char *sym, nvmlDevice_t d, const char *field, unsigned int *util, unsigned int *period) {
  DEVICE_CALL(sym, d)
  if (util == NULL || period == NULL) return done(sym, gpu, RC_INVALID_ARGUMENT);
  rc = dev_uint(prefix, field, util);
  if (rc == RC_SUCCESS) *period = 167000;
  return done(sym, gpu, rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetEncoderUtilization(nvmlDevice_t d, unsigned int *util, unsigned int *period) {
  return codec("nvmlDeviceGetEncoderUtilization", d, "enc_pct", util, period);
}

EXPORT nvmlReturn_t nvmlDeviceGetDecoderUtilization(nvmlDevice_t d, unsigned int *util, unsigned int *period) {
  return codec("nvmlDeviceGetDecoderUtilization", d, "dec_pct", util, period);
}

EXPORT nvmlReturn_t nvmlDeviceGetTotalEccErrors(nvmlDevice_t d, int errorType, int counterType, unsigned long long *out) {
  DEVICE_CALL("nvmlDeviceGetTotalEccErrors", d)
  if (out == NULL || errorType < 0 || errorType > 1 || counterType < 0 || counterType > 1)
    return done("nvmlDeviceGetTotalEccErrors", gpu, RC_INVALID_ARGUMENT);
  return done("nvmlDeviceGetTotalEccErrors", gpu, dev_u64(prefix, errorType == 0 ? "ecc_corrected" : "ecc_uncorrected", out));
}

/* ---- MIG ---- */

EXPORT nvmlReturn_t nvmlDeviceGetMigMode(nvmlDevice_t d, unsigned int *current, unsigned int *pending) {
  DEVICE_CALL("nvmlDeviceGetMigMode", d)
  if (current == NULL || pending == NULL) return done("nvmlDeviceGetMigMode", gpu, RC_INVALID_ARGUMENT);
  if (mig >= 0) return done("nvmlDeviceGetMigMode", gpu, RC_NOT_SUPPORTED);
  rc = dev_uint(prefix, "mig_mode", current);
  if (rc == RC_SUCCESS) *pending = *current;
  return done("nvmlDeviceGetMigMode", gpu, rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetMaxMigDeviceCount(nvmlDevice_t d, unsigned int *count) {
  DEVICE_CALL("nvmlDeviceGetMaxMigDeviceCount", d)
  if (count == NULL || mig >= 0) return done("nvmlDeviceGetMaxMigDeviceCount", gpu, RC_INVALID_ARGUMENT);
  const char *v = NULL;
  rc = dev_value(prefix, "mig_mode", &v);
  if (rc == RC_SUCCESS) {
    char key[64];
    snprintf(key, sizeof key, "gpu.%d.mig_max", gpu);
    *count = (unsigned int)cfg_int(key, mig_count(gpu));
  }
  return done("nvmlDeviceGetMaxMigDeviceCount", gpu, rc);
}

EXPORT nvmlReturn_t nvmlDeviceGetMigDeviceHandleByIndex(nvmlDevice_t d, unsigned int index, nvmlDevice_t *out) {
  DEVICE_CALL("nvmlDeviceGetMigDeviceHandleByIndex", d)
  if (out == NULL || mig >= 0) return done("nvmlDeviceGetMigDeviceHandleByIndex", gpu, RC_INVALID_ARGUMENT);
  if (index >= (unsigned int)mig_count(gpu)) return done("nvmlDeviceGetMigDeviceHandleByIndex", gpu, RC_NOT_FOUND);
  *out = make_handle(gpu, (int)index);
  return done("nvmlDeviceGetMigDeviceHandleByIndex", gpu, RC_SUCCESS);
}

/* ---- processes ---- */

#define MAX_PROCS 64

/* `procs = 4242:1073741824,4343:NA`; NA is "not available" (2^64-1 on the wire). */
static int parse_procs(const char *v, unsigned int *pids, unsigned long long *mem) {
  int n = 0;
  const char *s = v;
  while (*s && n < MAX_PROCS) {
    char *end;
    unsigned long pid = strtoul(s, &end, 10);
    if (end == s || *end != ':') break;
    s = end + 1;
    if (strncmp(s, "NA", 2) == 0) {
      mem[n] = ~0ULL;
      s += 2;
    } else {
      mem[n] = strtoull(s, &end, 10);
      s = end;
    }
    pids[n++] = (unsigned int)pid;
    while (*s == ',' || *s == ' ') s++;
  }
  return n;
}

static nvmlReturn_t processes(const char *sym, nvmlDevice_t d, unsigned int *count, unsigned char *infos, size_t stride) {
  DEVICE_CALL(sym, d)
  if (count == NULL) return done(sym, gpu, RC_INVALID_ARGUMENT);
  const char *v = NULL;
  rc = dev_value(prefix, "procs", &v);
  if (rc != RC_SUCCESS) return done(sym, gpu, rc);
  unsigned int pids[MAX_PROCS];
  unsigned long long mem[MAX_PROCS];
  int n = parse_procs(v, pids, mem);
  if (*count < (unsigned int)n || (n > 0 && infos == NULL)) {
    *count = (unsigned int)n;
    return done(sym, gpu, RC_INSUFFICIENT_SIZE);
  }
  for (int i = 0; i < n; i++) {
    unsigned char *e = infos + (size_t)i * stride;
    unsigned int none = 0xFFFFFFFFu;
    memset(e, 0, stride);
    memcpy(e, &pids[i], 4);
    memcpy(e + 8, &mem[i], 8);
    memcpy(e + 16, &none, 4);
    memcpy(e + 20, &none, 4);
  }
  *count = (unsigned int)n;
  return done(sym, gpu, RC_SUCCESS);
}

EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v2(nvmlDevice_t d, unsigned int *count, unsigned char *infos) {
  return processes("nvmlDeviceGetComputeRunningProcesses_v2", d, count, infos, 24);
}

#ifndef FAKE_OLD_DRIVER
#ifdef FAKE_STRIDE32
#define V3_STRIDE 32
#else
#define V3_STRIDE 24
#endif
EXPORT nvmlReturn_t nvmlDeviceGetComputeRunningProcesses_v3(nvmlDevice_t d, unsigned int *count, unsigned char *infos) {
  return processes("nvmlDeviceGetComputeRunningProcesses_v3", d, count, infos, V3_STRIDE);
}

/* Present from 535 on; the agent only looks for the symbols. */
EXPORT nvmlReturn_t nvmlDeviceGetConfComputeMemSizeInfo(nvmlDevice_t d, void *info) {
  (void)info;
  DEVICE_CALL("nvmlDeviceGetConfComputeMemSizeInfo", d)
  return done("nvmlDeviceGetConfComputeMemSizeInfo", gpu, RC_NOT_SUPPORTED);
}

#ifndef FAKE_STRIDE32
/* Added in 535.104 together with the fixed _v3 layout. */
EXPORT nvmlReturn_t nvmlDeviceGetRunningProcessDetailList(nvmlDevice_t d, void *list) {
  (void)list;
  DEVICE_CALL("nvmlDeviceGetRunningProcessDetailList", d)
  return done("nvmlDeviceGetRunningProcessDetailList", gpu, RC_NOT_SUPPORTED);
}
#endif
#endif
