/*
 * The NVML worker: the only process that loads libnvidia-ml (docs/gpu.md,
 * decision 2). The agent starts it, and kills it when a collection misses
 * its deadline (a call that hangs in the driver cannot be cancelled).
 *
 * It speaks agent/src/gpu/protocol.ts: one JSON document per line, requests
 * on stdin ({"op":"config",...}, {"op":"collect","id":N}, {"op":"shutdown"}),
 * messages on stdout ({"type":"ready","pid":N}, {"type":"result","id":N,
 * "result":...}). The agent validates every message with the protocol's
 * schemas, so a mistake here is a reported error, never a bad sample.
 *
 * It is a glibc program: libnvidia-ml.so.1 is a glibc library. From a
 * release it runs through the release's own loader and libc
 * (lib/ld-linux-x86-64.so.2 --library-path lib), so it works in musl-only and
 * empty images too.
 *
 * What it does per collection, and in which order it calls NVML, is the
 * reader the agent had in TypeScript (same calls, same error classes, same
 * caches), so the fake NVML's call counts in the tests hold for it:
 *   - one init cycle (session) at a time; identities (UUID, name, PCI bus id,
 *     compute capability, max SM clock, total memory) are read once per
 *     cycle, and handles are never used across cycles;
 *   - "not supported"-class answers are remembered per (GPU, field) and that
 *     metric is not polled again in the cycle;
 *   - a lost GPU (GPU_IS_LOST, RESET_REQUIRED) is reported as lost with its
 *     last identity, and NVML is re-initialised lost_retry_ms later;
 *   - driver-class failures fail the whole collection and are retried with
 *     exponential backoff; UNINITIALIZED re-initialises at once.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

/* ---- growable strings ---- */

typedef struct {
  char *p;
  size_t n, cap;
} Str;

static void put(Str *s, const char *b, size_t n) {
  if (s->n + n + 1 > s->cap) {
    size_t cap = s->cap == 0 ? 256 : s->cap;
    while (s->n + n + 1 > cap) cap *= 2;
    char *p = realloc(s->p, cap);
    if (p == NULL) {
      fputs("nvml worker: out of memory\n", stderr);
      _exit(70);
    }
    s->p = p;
    s->cap = cap;
  }
  memcpy(s->p + s->n, b, n);
  s->n += n;
  s->p[s->n] = '\0';
}

static void cat(Str *s, const char *z) { put(s, z, strlen(z)); }

__attribute__((format(printf, 2, 3))) static void fmt(Str *s, const char *f, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, f);
  int n = vsnprintf(buf, sizeof buf, f, ap);
  va_end(ap);
  if (n < 0) return;
  put(s, buf, (size_t)n < sizeof buf ? (size_t)n : sizeof buf - 1);
}

static void clear(Str *s) {
  s->n = 0;
  if (s->p != NULL) s->p[0] = '\0';
}

static void drop(Str *s) {
  free(s->p);
  s->p = NULL;
  s->n = s->cap = 0;
}

/* Length of a well-formed UTF-8 sequence at p (at most n bytes), 0 when it is not one. */
static size_t utf8_len(const unsigned char *p, size_t n) {
  unsigned c = p[0];
  size_t len;
  unsigned min;
  if (c < 0x80) return 1;
  if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
  else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
  else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
  else return 0;
  if (n < len) return 0;
  unsigned cp = c & (0x3f >> (len - 1));
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3f);
  }
  if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
  return len;
}

/* A JSON string of n bytes of text; bytes that are not UTF-8 become U+FFFD, as Node decodes them. */
static void jstr_n(Str *s, const char *z, size_t n) {
  const unsigned char *p = (const unsigned char *)z;
  cat(s, "\"");
  for (size_t i = 0; i < n;) {
    unsigned c = p[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      put(s, e, 2);
      i++;
    } else if (c < 0x20) {
      fmt(s, "\\u%04x", c);
      i++;
    } else {
      size_t len = utf8_len(p + i, n - i);
      if (len == 0) {
        cat(s, "\\ufffd");
        i++;
      } else {
        put(s, z + i, len);
        i += len;
      }
    }
  }
  cat(s, "\"");
}

static void jstr(Str *s, const char *z) {
  if (z == NULL) cat(s, "null");
  else jstr_n(s, z, strlen(z));
}

/* A number as JSON: integers as digits (as JavaScript prints them), others in the shortest form that reads back the same. */
static void jnum(Str *s, double v) {
  if (!isfinite(v)) {
    cat(s, "null");
    return;
  }
  if (v == trunc(v) && fabs(v) < 1e21) {
    fmt(s, "%.0f", v);
    return;
  }
  char buf[40];
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, sizeof buf, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) break;
  }
  cat(s, buf);
}

static char *dup_or_die(const char *z) {
  char *d = strdup(z);
  if (d == NULL) {
    fputs("nvml worker: out of memory\n", stderr);
    _exit(70);
  }
  return d;
}

static void *alloc_or_die(size_t n) {
  void *p = calloc(1, n == 0 ? 1 : n);
  if (p == NULL) {
    fputs("nvml worker: out of memory\n", stderr);
    _exit(70);
  }
  return p;
}

/* An ordered string → string map (the result's `reasons`); setting a key again replaces its value. */
typedef struct {
  char **key, **val;
  size_t n, cap;
} Dict;

static void dict_set(Dict *d, const char *key, const char *val) {
  for (size_t i = 0; i < d->n; i++) {
    if (strcmp(d->key[i], key) == 0) {
      free(d->val[i]);
      d->val[i] = dup_or_die(val);
      return;
    }
  }
  if (d->n == d->cap) {
    d->cap = d->cap == 0 ? 16 : d->cap * 2;
    d->key = realloc(d->key, d->cap * sizeof *d->key);
    d->val = realloc(d->val, d->cap * sizeof *d->val);
    if (d->key == NULL || d->val == NULL) {
      fputs("nvml worker: out of memory\n", stderr);
      _exit(70);
    }
  }
  d->key[d->n] = dup_or_die(key);
  d->val[d->n] = dup_or_die(val);
  d->n++;
}

static void dict_free(Dict *d) {
  for (size_t i = 0; i < d->n; i++) free(d->key[i]), free(d->val[i]);
  free(d->key);
  free(d->val);
  memset(d, 0, sizeof *d);
}

/* ---- NVML: codes, classes, symbols ---- */

enum {
  RC_SUCCESS = 0,
  RC_UNINITIALIZED = 1,
  RC_NOT_SUPPORTED = 3,
  RC_NO_PERMISSION = 4,
  RC_NOT_FOUND = 6,
  RC_INSUFFICIENT_SIZE = 7,
  RC_DRIVER_NOT_LOADED = 9,
  RC_LIBRARY_NOT_FOUND = 12,
  RC_FUNCTION_NOT_FOUND = 13,
  RC_GPU_IS_LOST = 15,
  RC_RESET_REQUIRED = 16,
  RC_LIB_RM_VERSION_MISMATCH = 18,
  RC_ARGUMENT_VERSION_MISMATCH = 25,
  RC_UNKNOWN = 999,
};

static const char *code_name(int code) {
  switch (code) {
    case 0: return "SUCCESS";
    case 1: return "UNINITIALIZED";
    case 2: return "INVALID_ARGUMENT";
    case 3: return "NOT_SUPPORTED";
    case 4: return "NO_PERMISSION";
    case 5: return "ALREADY_INITIALIZED";
    case 6: return "NOT_FOUND";
    case 7: return "INSUFFICIENT_SIZE";
    case 8: return "INSUFFICIENT_POWER";
    case 9: return "DRIVER_NOT_LOADED";
    case 10: return "TIMEOUT";
    case 11: return "IRQ_ISSUE";
    case 12: return "LIBRARY_NOT_FOUND";
    case 13: return "FUNCTION_NOT_FOUND";
    case 14: return "CORRUPTED_INFOROM";
    case 15: return "GPU_IS_LOST";
    case 16: return "RESET_REQUIRED";
    case 17: return "OPERATING_SYSTEM";
    case 18: return "LIB_RM_VERSION_MISMATCH";
    case 19: return "IN_USE";
    case 20: return "MEMORY";
    case 21: return "NO_DATA";
    case 25: return "ARGUMENT_VERSION_MISMATCH";
    case 999: return "UNKNOWN";
    default: return NULL;
  }
}

/* NVML_ERROR_<NAME>, or NVML_ERROR_CODE_<n> for a code nvml.h 13.x does not name. */
static const char *nvml_code_name(int code) {
  static char buf[64];
  const char *name = code_name(code);
  if (name != NULL) snprintf(buf, sizeof buf, "NVML_ERROR_%s", name);
  else snprintf(buf, sizeof buf, "NVML_ERROR_CODE_%d", code);
  return buf;
}

/* What the agent does about a failure (docs/gpu.md, decision 3). */
typedef enum { C_UNSUPPORTED, C_DEVICE, C_DRIVER, C_UNINITIALIZED, C_TRANSIENT } ErrorClass;

static ErrorClass classify(int code) {
  switch (code) {
    case RC_NOT_SUPPORTED:
    case RC_NO_PERMISSION:
    case RC_FUNCTION_NOT_FOUND:
    case RC_ARGUMENT_VERSION_MISMATCH: return C_UNSUPPORTED;
    case RC_GPU_IS_LOST:
    case RC_RESET_REQUIRED: return C_DEVICE;
    case RC_DRIVER_NOT_LOADED:
    case RC_LIB_RM_VERSION_MISMATCH:
    case RC_LIBRARY_NOT_FOUND:
    case RC_UNKNOWN: return C_DRIVER;
    case RC_UNINITIALIZED: return C_UNINITIALIZED;
    default: return C_TRANSIENT;
  }
}

static const char *operator_hint(int code) {
  switch (code) {
    case RC_LIB_RM_VERSION_MISMATCH:
      return "the NVIDIA driver was upgraded but the old kernel module is still loaded: reload the nvidia kernel module or reboot";
    case RC_DRIVER_NOT_LOADED:
      return "the NVIDIA kernel driver is not loaded: load it (modprobe nvidia) and run the container with the GPU exposed (--gpus, "
             "NVIDIA_DRIVER_CAPABILITIES including \"utility\")";
    case RC_LIBRARY_NOT_FOUND:
      return "libnvidia-ml.so.1 could not load its driver components: check the NVIDIA driver installation";
    default:
      return "NVML failed without a specific cause: check the NVIDIA driver (nvidia-smi) and the kernel log";
  }
}

#define SYMBOLS(X)                                \
  X(nvmlInit_v2)                                  \
  X(nvmlShutdown)                                 \
  X(nvmlErrorString)                              \
  X(nvmlSystemGetDriverVersion)                   \
  X(nvmlSystemGetNVMLVersion)                     \
  X(nvmlSystemGetCudaDriverVersion_v2)            \
  X(nvmlSystemGetCudaDriverVersion)               \
  X(nvmlDeviceGetCount_v2)                        \
  X(nvmlDeviceGetHandleByIndex_v2)                \
  X(nvmlDeviceGetName)                            \
  X(nvmlDeviceGetUUID)                            \
  X(nvmlDeviceGetPciInfo_v3)                      \
  X(nvmlDeviceGetCudaComputeCapability)           \
  X(nvmlDeviceGetUtilizationRates)                \
  X(nvmlDeviceGetMemoryInfo_v2)                   \
  X(nvmlDeviceGetMemoryInfo)                      \
  X(nvmlDeviceGetTemperatureV)                    \
  X(nvmlDeviceGetTemperature)                     \
  X(nvmlDeviceGetPowerUsage)                      \
  X(nvmlDeviceGetEnforcedPowerLimit)              \
  X(nvmlDeviceGetTotalEnergyConsumption)          \
  X(nvmlDeviceGetFanSpeed)                        \
  X(nvmlDeviceGetClockInfo)                       \
  X(nvmlDeviceGetMaxClockInfo)                    \
  X(nvmlDeviceGetPcieThroughput)                  \
  X(nvmlDeviceGetEncoderUtilization)              \
  X(nvmlDeviceGetDecoderUtilization)              \
  X(nvmlDeviceGetPerformanceState)                \
  X(nvmlDeviceGetCurrentClocksEventReasons)       \
  X(nvmlDeviceGetCurrentClocksThrottleReasons)    \
  X(nvmlDeviceGetTotalEccErrors)                  \
  X(nvmlDeviceGetMigMode)                         \
  X(nvmlDeviceGetMaxMigDeviceCount)               \
  X(nvmlDeviceGetMigDeviceHandleByIndex)          \
  X(nvmlDeviceGetComputeRunningProcesses_v3)      \
  X(nvmlDeviceGetComputeRunningProcesses_v2)      \
  /* Only looked up, never called: together they identify the 32-byte process stride. */ \
  X(nvmlDeviceGetConfComputeMemSizeInfo)          \
  X(nvmlDeviceGetRunningProcessDetailList)

#define AS_ENUM(name) S_##name,
#define AS_NAME(name) #name,
typedef enum { SYMBOLS(AS_ENUM) N_SYMBOLS } Sym;
static const char *const SYMBOL_NAMES[N_SYMBOLS] = {SYMBOLS(AS_NAME)};
static void *fns[N_SYMBOLS];

/* Without these NVML is useless: a library lacking one is refused. */
static const Sym CRITICAL[] = {S_nvmlInit_v2,    S_nvmlShutdown,      S_nvmlErrorString,         S_nvmlDeviceGetCount_v2,
                               S_nvmlDeviceGetHandleByIndex_v2, S_nvmlDeviceGetName, S_nvmlDeviceGetUUID};

typedef void *Handle;

/* The prototypes of nvml.h, by shape; a symbol the library lacks answers FUNCTION_NOT_FOUND. */
#define CALL(sym, type, ...) (fns[S_##sym] == NULL ? RC_FUNCTION_NOT_FOUND : ((type)fns[S_##sym])(__VA_ARGS__))
typedef int (*fn_void)(void);
typedef const char *(*fn_error_string)(int);
typedef int (*fn_text)(char *, unsigned);
typedef int (*fn_int_out)(int *);
typedef int (*fn_uint_out)(unsigned *);
typedef int (*fn_handle_by_index)(unsigned, Handle *);
typedef int (*fn_dev_text)(Handle, char *, unsigned);
typedef int (*fn_dev_ptr)(Handle, void *);
typedef int (*fn_dev_ptr2)(Handle, void *, void *);
typedef int (*fn_dev_int_ptr)(Handle, int, void *);
typedef int (*fn_dev_uint_handle)(Handle, unsigned, Handle *);
typedef int (*fn_dev_int_int_ptr)(Handle, int, int, void *);

static int has(Sym s) { return fns[s] != NULL; }

static char *library_path;

static const char *error_string(int code) {
  static char buf[32];
  const char *s = fns[S_nvmlErrorString] == NULL ? NULL : ((fn_error_string)fns[S_nvmlErrorString])(code);
  if (s != NULL) return s;
  snprintf(buf, sizeof buf, "error %d", code);
  return buf;
}

/*
 * The error being propagated. Functions answer OK, E_NVML (an NVML failure:
 * err.code and err.msg, "<symbol>: NVML_ERROR_<NAME> (<errorString>)") or
 * E_LOST (the device is gone: err.msg).
 */
enum { OK = 0, E_NVML = 1, E_LOST = 2 };
static struct {
  int code;
  char msg[512];
} err;

static int nvml_error(Sym sym, int code) {
  const char *detail = error_string(code);
  snprintf(err.msg, sizeof err.msg, "%s: %s (%s)", SYMBOL_NAMES[sym], nvml_code_name(code), detail);
  err.code = code;
  return E_NVML;
}

/* A failed call on a device: E_LOST for a lost or reset GPU, E_NVML for anything else. */
static int device_error(Sym sym, int code) {
  nvml_error(sym, code);
  return classify(code) == C_DEVICE ? E_LOST : E_NVML;
}

/* ---- buffers (little-endian, LP64 layouts of nvml.h 13.x) ---- */

static uint32_t rd_u32(const unsigned char *b) {
  uint32_t v;
  memcpy(&v, b, 4);
  return v;
}
static int32_t rd_i32(const unsigned char *b) {
  int32_t v;
  memcpy(&v, b, 4);
  return v;
}
static uint64_t rd_u64(const unsigned char *b) {
  uint64_t v;
  memcpy(&v, b, 8);
  return v;
}

/* A NUL-terminated string from a fixed buffer window. */
static void c_string(char *out, const unsigned char *buf, size_t len) {
  size_t n = strnlen((const char *)buf, len);
  memcpy(out, buf, n);
  out[n] = '\0';
}

#define NAME_SIZE 96
#define VERSION_SIZE 80
#define PCI_INFO_SIZE 68
#define MEMORY_V1_SIZE 24
#define MEMORY_V2_SIZE 40
#define MEMORY_V2_VERSION 0x02000028u
#define TEMPERATURE_V1_SIZE 12
#define TEMPERATURE_V1_VERSION 0x0100000cu
#define PROCESS_INFO_SIZE 24
#define PROCESS_INFO_SIZE_535 32
#define PID_MAX_LIMIT 4194304u
#define NOT_AVAILABLE_U64 UINT64_MAX
enum { CLOCK_GRAPHICS = 0, CLOCK_SM = 1, CLOCK_MEM = 2 };

/* ---- the payload's GPU fields ---- */

#define FIELDS(X)                  \
  X(pci_bus_id)                    \
  X(driver_version)                \
  X(cuda_driver_version)           \
  X(compute_capability)            \
  X(utilization_percent)           \
  X(memory_utilization_percent)    \
  X(memory_total_bytes)            \
  X(memory_used_bytes)             \
  X(memory_reserved_bytes)         \
  X(temperature_c)                 \
  X(power_watts)                   \
  X(power_limit_watts)             \
  X(energy_joules)                 \
  X(fan_percent)                   \
  X(clock_sm_mhz)                  \
  X(clock_mem_mhz)                 \
  X(clock_graphics_mhz)            \
  X(clock_max_sm_mhz)              \
  X(pcie_tx_bytes_per_sec)         \
  X(pcie_rx_bytes_per_sec)         \
  X(encoder_percent)               \
  X(decoder_percent)               \
  X(pstate)                        \
  X(clocks_event_reasons)          \
  X(ecc_corrected)                 \
  X(ecc_uncorrected)               \
  X(mig_mode)                      \
  X(processes)

#define AS_FIELD(name) F_##name,
typedef enum { FIELDS(AS_FIELD) N_FIELDS } Field;
static const char *const FIELD_NAMES[N_FIELDS] = {FIELDS(AS_NAME)};

/* What is read once per init cycle. */
typedef struct {
  unsigned index;
  char uuid[NAME_SIZE + 1], name[NAME_SIZE + 1];
  char parent_uuid[NAME_SIZE + 1]; /* "" when not a MIG device */
  int has_pci, has_cc, has_max_clock, has_memory_total;
  char pci_bus_id[40], compute_capability[32];
  uint32_t clock_max_sm_mhz;
  double memory_total_bytes;
} Identity;

typedef struct {
  Handle handle;
  Identity id;
  int is_mig;
  char *lost; /* why the device is gone; NULL while healthy */
} Device;

/* (GPU, field) → reason: metrics the board said it does not support, in the order they were found. */
typedef struct {
  char uuid[NAME_SIZE + 1];
  size_t n;
  Field field[N_FIELDS];
  char *why[N_FIELDS];
} Unsupported;

typedef struct {
  char key[NAME_SIZE + 16];
  Identity id;
} MigIdentity;

/* One init cycle: handles and caches from it are never used after its shutdown. */
typedef struct {
  char *driver_version, *nvml_version, *cuda_driver_version;
  Device *devices;
  size_t n_devices;
  MigIdentity *mig;
  size_t n_mig;
  Unsupported *unsupported;
  size_t n_unsupported;
  unsigned process_stride;
  int has_reinit_at;
  double reinit_at;
} Session;

/* One entry of `gpus`: each field's JSON text, empty for null. */
typedef struct {
  const Identity *id;
  const char *health;
  Str v[N_FIELDS];
  const Unsupported *unsupported;
} Entry;

static struct {
  double retry_base_ms, retry_max_ms, lost_retry_ms;
} opts;

static Session *session;
static int failures;
static struct {
  int active;
  char reason[512];
  const char *hint;
  double retry_at;
} failed;
/* Identities by index from earlier cycles, so a GPU that is gone at re-init is still reported as lost. */
static Identity *last_known;
static size_t n_last_known;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static const Identity *known(unsigned index) {
  for (size_t i = 0; i < n_last_known; i++)
    if (last_known[i].index == index) return &last_known[i];
  return NULL;
}

static void remember(const Identity *id) {
  for (size_t i = 0; i < n_last_known; i++) {
    if (last_known[i].index == id->index) {
      last_known[i] = *id;
      return;
    }
  }
  last_known = realloc(last_known, (n_last_known + 1) * sizeof *last_known);
  if (last_known == NULL) _exit(70);
  last_known[n_last_known++] = *id;
}

/* Ends the init cycle; `shutdown` is 0 when NVML already lost its init state (UNINITIALIZED). */
static void end_session_with(int shutdown) {
  if (session == NULL) return;
  Session *s = session;
  session = NULL;
  if (shutdown) CALL(nvmlShutdown, fn_void);
  free(s->driver_version);
  free(s->nvml_version);
  free(s->cuda_driver_version);
  for (size_t i = 0; i < s->n_devices; i++) free(s->devices[i].lost);
  for (size_t i = 0; i < s->n_unsupported; i++)
    for (size_t j = 0; j < s->unsupported[i].n; j++) free(s->unsupported[i].why[j]);
  free(s->devices);
  free(s->mig);
  free(s->unsupported);
  free(s);
}

static void end_session(void) { end_session_with(1); }

/* ---- identity ---- */

typedef struct {
  int ok;
  double total, used, free_, reserved;
  int has_reserved;
  Sym sym;
  int code;
} Memory;

/* `_v2` (with reserved memory) where the driver has it and accepts our struct version, else the v1 call. */
static Memory read_memory(Handle h) {
  Memory m = {0};
  if (has(S_nvmlDeviceGetMemoryInfo_v2)) {
    unsigned char buf[MEMORY_V2_SIZE] = {0};
    uint32_t version = MEMORY_V2_VERSION;
    memcpy(buf, &version, 4);
    int code = CALL(nvmlDeviceGetMemoryInfo_v2, fn_dev_ptr, h, buf);
    if (code == RC_SUCCESS) {
      m.ok = 1;
      m.total = (double)rd_u64(buf + 8);
      m.reserved = (double)rd_u64(buf + 16);
      m.free_ = (double)rd_u64(buf + 24);
      m.used = (double)rd_u64(buf + 32);
      m.has_reserved = 1;
      return m;
    }
    if (code != RC_ARGUMENT_VERSION_MISMATCH) {
      m.sym = S_nvmlDeviceGetMemoryInfo_v2;
      m.code = code;
      return m;
    }
  }
  unsigned char buf[MEMORY_V1_SIZE] = {0};
  int code = CALL(nvmlDeviceGetMemoryInfo, fn_dev_ptr, h, buf);
  if (code != RC_SUCCESS) {
    m.sym = S_nvmlDeviceGetMemoryInfo;
    m.code = code;
    return m;
  }
  m.ok = 1;
  m.total = (double)rd_u64(buf);
  m.free_ = (double)rd_u64(buf + 8);
  m.used = (double)rd_u64(buf + 16);
  return m;
}

/* An optional identity fact: "not supported" and transient failures leave it null; a lost device or the driver fail the read. */
static int optional(int rc) {
  if (rc == E_NVML && (classify(err.code) == C_UNSUPPORTED || classify(err.code) == C_TRANSIENT)) return OK;
  return rc;
}

static int read_pci_bus_id(Handle h, Identity *id) {
  unsigned char buf[PCI_INFO_SIZE] = {0};
  int code = CALL(nvmlDeviceGetPciInfo_v3, fn_dev_ptr, h, buf);
  if (code != RC_SUCCESS) return device_error(S_nvmlDeviceGetPciInfo_v3, code);
  /* busId (domain:bus:device.function, 32 bytes at 36), else the legacy 16-byte one at 0. */
  c_string(id->pci_bus_id, buf + 36, 32);
  if (id->pci_bus_id[0] == '\0') c_string(id->pci_bus_id, buf, 16);
  id->has_pci = id->pci_bus_id[0] != '\0'; /* an empty id is null, not an error */
  return OK;
}

static int read_compute_capability(Handle h, Identity *id) {
  int major = 0, minor = 0;
  int code = CALL(nvmlDeviceGetCudaComputeCapability, fn_dev_ptr2, h, &major, &minor);
  if (code != RC_SUCCESS) return device_error(S_nvmlDeviceGetCudaComputeCapability, code);
  snprintf(id->compute_capability, sizeof id->compute_capability, "%d.%d", major, minor);
  id->has_cc = 1;
  return OK;
}

static int read_max_clock(Handle h, Identity *id) {
  unsigned v = 0;
  int code = CALL(nvmlDeviceGetMaxClockInfo, fn_dev_int_ptr, h, CLOCK_SM, &v);
  if (code != RC_SUCCESS) return device_error(S_nvmlDeviceGetMaxClockInfo, code);
  id->clock_max_sm_mhz = v;
  id->has_max_clock = 1;
  return OK;
}

static int read_memory_total(Handle h, Identity *id) {
  Memory m = read_memory(h);
  if (!m.ok) return device_error(m.sym, m.code);
  id->memory_total_bytes = m.total;
  id->has_memory_total = 1;
  return OK;
}

static int read_text(Sym sym, Handle h, char *out) {
  unsigned char buf[NAME_SIZE] = {0};
  int code = sym == S_nvmlDeviceGetUUID ? CALL(nvmlDeviceGetUUID, fn_dev_text, h, (char *)buf, NAME_SIZE)
                                        : CALL(nvmlDeviceGetName, fn_dev_text, h, (char *)buf, NAME_SIZE);
  if (code != RC_SUCCESS) return device_error(sym, code);
  c_string(out, buf, NAME_SIZE);
  return OK;
}

/* Name, UUID and the static facts; a MIG device takes its PCI bus id and compute capability from its parent. */
static int read_identity(Handle h, unsigned index, const Identity *parent, Identity *id) {
  memset(id, 0, sizeof *id);
  id->index = index;
  int rc;
  if ((rc = read_text(S_nvmlDeviceGetUUID, h, id->uuid)) != OK) return rc;
  if ((rc = read_text(S_nvmlDeviceGetName, h, id->name)) != OK) return rc;
  if (parent != NULL) memcpy(id->parent_uuid, parent->uuid, sizeof id->parent_uuid);
  if (parent != NULL && parent->has_pci) {
    memcpy(id->pci_bus_id, parent->pci_bus_id, sizeof id->pci_bus_id);
    id->has_pci = 1;
  } else if ((rc = optional(read_pci_bus_id(h, id))) != OK) {
    return rc;
  }
  if (parent != NULL && parent->has_cc) {
    memcpy(id->compute_capability, parent->compute_capability, sizeof id->compute_capability);
    id->has_cc = 1;
  } else if ((rc = optional(read_compute_capability(h, id))) != OK) {
    return rc;
  }
  if ((rc = optional(read_max_clock(h, id))) != OK) return rc;
  if ((rc = optional(read_memory_total(h, id))) != OK) return rc;
  return OK;
}

/* ---- session ---- */

static char *system_string(Sym sym) {
  char buf[VERSION_SIZE] = {0};
  int code = sym == S_nvmlSystemGetDriverVersion ? CALL(nvmlSystemGetDriverVersion, fn_text, buf, VERSION_SIZE)
                                                 : CALL(nvmlSystemGetNVMLVersion, fn_text, buf, VERSION_SIZE);
  if (code != RC_SUCCESS) return NULL;
  char out[VERSION_SIZE + 1];
  c_string(out, (const unsigned char *)buf, VERSION_SIZE);
  return dup_or_die(out);
}

/* nvmlSystemGetCudaDriverVersion gives 1000 × major + 10 × minor (12040 → "12.4"). */
static char *cuda_version(void) {
  int v = 0;
  int code = has(S_nvmlSystemGetCudaDriverVersion_v2) ? CALL(nvmlSystemGetCudaDriverVersion_v2, fn_int_out, &v)
                                                       : CALL(nvmlSystemGetCudaDriverVersion, fn_int_out, &v);
  if (code != RC_SUCCESS || v <= 0) return NULL;
  char out[32];
  snprintf(out, sizeof out, "%d.%d", v / 1000, (v % 1000) / 10);
  return dup_or_die(out);
}

/* Handle and identity of index i; a GPU that is lost keeps its last known identity; *added is 0 for a GPU never seen. */
static int open_device(unsigned index, Device *dev, int *added) {
  *added = 0;
  memset(dev, 0, sizeof *dev);
  Handle h = NULL;
  int code = CALL(nvmlDeviceGetHandleByIndex_v2, fn_handle_by_index, index, &h);
  if (code != RC_SUCCESS) {
    nvml_error(S_nvmlDeviceGetHandleByIndex_v2, code);
    ErrorClass c = classify(code);
    if (c == C_DRIVER || c == C_UNINITIALIZED) return E_NVML;
    const Identity *k = known(index);
    if (k == NULL) return OK;
    dev->id = *k;
    dev->lost = dup_or_die(err.msg);
    *added = 1;
    return OK;
  }
  dev->handle = h;
  int rc = read_identity(h, index, NULL, &dev->id);
  if (rc == OK) {
    remember(&dev->id);
    *added = 1;
    return OK;
  }
  if (rc != E_LOST) return rc;
  const Identity *k = known(index);
  if (k == NULL) return OK;
  dev->id = *k;
  dev->lost = dup_or_die(err.msg);
  *added = 1;
  return OK;
}

/* Drivers 535.43–535.86 wrote 32-byte `_v3` process entries without a version bump: they have ConfComputeMemSizeInfo but not yet RunningProcessDetailList. */
static unsigned process_stride(void) {
  return has(S_nvmlDeviceGetComputeRunningProcesses_v3) && has(S_nvmlDeviceGetConfComputeMemSizeInfo) &&
                 !has(S_nvmlDeviceGetRunningProcessDetailList)
             ? PROCESS_INFO_SIZE_535
             : PROCESS_INFO_SIZE;
}

static int start_session(void) {
  int code = CALL(nvmlInit_v2, fn_void);
  if (code != RC_SUCCESS) return nvml_error(S_nvmlInit_v2, code);
  Session *s = alloc_or_die(sizeof *s);
  s->driver_version = system_string(S_nvmlSystemGetDriverVersion);
  s->nvml_version = system_string(S_nvmlSystemGetNVMLVersion);
  s->cuda_driver_version = cuda_version();
  unsigned count = 0;
  int rc = OK;
  code = CALL(nvmlDeviceGetCount_v2, fn_uint_out, &count);
  if (code != RC_SUCCESS) rc = nvml_error(S_nvmlDeviceGetCount_v2, code);
  if (rc == OK) s->devices = alloc_or_die(count * sizeof *s->devices);
  for (unsigned i = 0; rc == OK && i < count; i++) {
    int added;
    rc = open_device(i, &s->devices[s->n_devices], &added);
    if (rc == OK && added) s->n_devices++;
  }
  if (rc != OK) {
    /* The cycle never started: shut NVML down here (the caller's end_session has no session to end). */
    session = s;
    end_session();
    return rc;
  }
  s->process_stride = process_stride();
  session = s;
  return OK;
}

/* ---- per-tick metrics ---- */

/* The device being read, as the metrics need it. */
typedef struct {
  Handle h;
  const char *uuid;
  int is_mig;
  int has_memory_total;
  double memory_total;
  unsigned stride;
  Dict *reasons;
} Target;

typedef struct {
  Sym sym;
  int code;
} Failure;

static void set_num(Entry *e, Field f, double v) {
  clear(&e->v[f]);
  jnum(&e->v[f], v);
}

static void set_str(Entry *e, Field f, const char *z) {
  clear(&e->v[f]);
  jstr(&e->v[f], z);
}

/* Each metric answers 1 when read (values set in e), 0 on failure (f set). */
#define FAIL(s, c) (f->sym = (s), f->code = (c), 0)

static int m_utilization(const Target *t, Entry *e, Failure *f) {
  unsigned u[2] = {0, 0};
  int code = CALL(nvmlDeviceGetUtilizationRates, fn_dev_ptr, t->h, u);
  if (code != RC_SUCCESS) return FAIL(S_nvmlDeviceGetUtilizationRates, code);
  set_num(e, F_utilization_percent, u[0]);
  set_num(e, F_memory_utilization_percent, u[1]);
  return 1;
}

static int m_memory(const Target *t, Entry *e, Failure *f) {
  Memory m = read_memory(t->h);
  if (!m.ok) return FAIL(m.sym, m.code);
  set_num(e, F_memory_used_bytes, m.used);
  if (m.has_reserved) set_num(e, F_memory_reserved_bytes, m.reserved);
  else clear(&e->v[F_memory_reserved_bytes]);
  set_num(e, F_memory_total_bytes, t->has_memory_total ? t->memory_total : m.total);
  return 1;
}

static int m_temperature(const Target *t, Entry *e, Failure *f) {
  /* A driver that knows a newer struct version than ours answers ARGUMENT_VERSION_MISMATCH: use the old call. */
  if (has(S_nvmlDeviceGetTemperatureV)) {
    unsigned char buf[TEMPERATURE_V1_SIZE] = {0};
    uint32_t version = TEMPERATURE_V1_VERSION; /* sensorType 0: the GPU die */
    memcpy(buf, &version, 4);
    int code = CALL(nvmlDeviceGetTemperatureV, fn_dev_ptr, t->h, buf);
    if (code == RC_SUCCESS) {
      set_num(e, F_temperature_c, rd_i32(buf + 8));
      return 1;
    }
    if (code != RC_ARGUMENT_VERSION_MISMATCH) return FAIL(S_nvmlDeviceGetTemperatureV, code);
  }
  unsigned v = 0;
  int code = CALL(nvmlDeviceGetTemperature, fn_dev_int_ptr, t->h, 0, &v);
  if (code != RC_SUCCESS) return FAIL(S_nvmlDeviceGetTemperature, code);
  set_num(e, F_temperature_c, v);
  return 1;
}

/* A u32 reading into one field, multiplied by scale. */
static int u32_metric(Sym sym, int code, unsigned v, Entry *e, Field field, double scale, Failure *f) {
  if (code != RC_SUCCESS) return FAIL(sym, code);
  set_num(e, field, (double)v * scale);
  return 1;
}

static int m_power(const Target *t, Entry *e, Failure *f) {
  unsigned mw = 0;
  int code = CALL(nvmlDeviceGetPowerUsage, fn_dev_ptr, t->h, &mw);
  if (code != RC_SUCCESS) return FAIL(S_nvmlDeviceGetPowerUsage, code);
  set_num(e, F_power_watts, (double)mw / 1000);
  return 1;
}

static int m_power_limit(const Target *t, Entry *e, Failure *f) {
  unsigned mw = 0;
  int code = CALL(nvmlDeviceGetEnforcedPowerLimit, fn_dev_ptr, t->h, &mw);
  if (code != RC_SUCCESS) return FAIL(S_nvmlDeviceGetEnforcedPowerLimit, code);
  set_num(e, F_power_limit_watts, (double)mw / 1000);
  return 1;
}

static int m_energy(const Target *t, Entry *e, Failure *f) {
  unsigned long long mj = 0;
  int code = CALL(nvmlDeviceGetTotalEnergyConsumption, fn_dev_ptr, t->h, &mj);
  if (code != RC_SUCCESS) return FAIL(S_nvmlDeviceGetTotalEnergyConsumption, code);
  set_num(e, F_energy_joules, (double)mj / 1000);
  return 1;
}

static int m_fan(const Target *t, Entry *e, Failure *f) {
  unsigned v = 0;
  int code = CALL(nvmlDeviceGetFanSpeed, fn_dev_ptr, t->h, &v);
  return u32_metric(S_nvmlDeviceGetFanSpeed, code, v, e, F_fan_percent, 1, f);
}

static int clock_metric(const Target *t, Entry *e, Failure *f, int type, Field field) {
  unsigned v = 0;
  int code = CALL(nvmlDeviceGetClockInfo, fn_dev_int_ptr, t->h, type, &v);
  return u32_metric(S_nvmlDeviceGetClockInfo, code, v, e, field, 1, f);
}
static int m_clock_sm(const Target *t, Entry *e, Failure *f) { return clock_metric(t, e, f, CLOCK_SM, F_clock_sm_mhz); }
static int m_clock_mem(const Target *t, Entry *e, Failure *f) { return clock_metric(t, e, f, CLOCK_MEM, F_clock_mem_mhz); }
static int m_clock_graphics(const Target *t, Entry *e, Failure *f) { return clock_metric(t, e, f, CLOCK_GRAPHICS, F_clock_graphics_mhz); }

/* NVML's "KB" here is 1024 bytes; counter 0 is TX, 1 is RX. */
static int pcie(const Target *t, Entry *e, Failure *f, int counter, Field field) {
  unsigned kb = 0;
  int code = CALL(nvmlDeviceGetPcieThroughput, fn_dev_int_ptr, t->h, counter, &kb);
  return u32_metric(S_nvmlDeviceGetPcieThroughput, code, kb, e, field, 1024, f);
}
static int m_pcie_tx(const Target *t, Entry *e, Failure *f) { return pcie(t, e, f, 0, F_pcie_tx_bytes_per_sec); }
static int m_pcie_rx(const Target *t, Entry *e, Failure *f) { return pcie(t, e, f, 1, F_pcie_rx_bytes_per_sec); }

static int m_encoder(const Target *t, Entry *e, Failure *f) {
  unsigned v = 0, period = 0;
  int code = CALL(nvmlDeviceGetEncoderUtilization, fn_dev_ptr2, t->h, &v, &period);
  return u32_metric(S_nvmlDeviceGetEncoderUtilization, code, v, e, F_encoder_percent, 1, f);
}

static int m_decoder(const Target *t, Entry *e, Failure *f) {
  unsigned v = 0, period = 0;
  int code = CALL(nvmlDeviceGetDecoderUtilization, fn_dev_ptr2, t->h, &v, &period);
  return u32_metric(S_nvmlDeviceGetDecoderUtilization, code, v, e, F_decoder_percent, 1, f);
}

/* nvmlPstates_t: 0..15 are P0..P15, 32 is "unknown" (null). */
static int m_pstate(const Target *t, Entry *e, Failure *f) {
  int v = 0;
  int code = CALL(nvmlDeviceGetPerformanceState, fn_dev_ptr, t->h, &v);
  if (code != RC_SUCCESS) return FAIL(S_nvmlDeviceGetPerformanceState, code);
  clear(&e->v[F_pstate]);
  if (v >= 0 && v <= 15) fmt(&e->v[F_pstate], "\"P%d\"", v);
  return 1;
}

/* nvmlClocksEventReasons bits, named as nvidia-smi names them; other bits as unknown_0x<bit>. */
static int m_event_reasons(const Target *t, Entry *e, Failure *f) {
  static const char *const NAMES[] = {"gpu_idle",           "applications_clocks_setting", "sw_power_cap",
                                      "hw_slowdown",        "sync_boost",                  "sw_thermal_slowdown",
                                      "hw_thermal_slowdown", "hw_power_brake_slowdown",    "display_clock_setting"};
  unsigned long long bits = 0;
  int events = has(S_nvmlDeviceGetCurrentClocksEventReasons);
  int code = events ? CALL(nvmlDeviceGetCurrentClocksEventReasons, fn_dev_ptr, t->h, &bits)
                    : CALL(nvmlDeviceGetCurrentClocksThrottleReasons, fn_dev_ptr, t->h, &bits);
  if (code != RC_SUCCESS) return FAIL(events ? S_nvmlDeviceGetCurrentClocksEventReasons : S_nvmlDeviceGetCurrentClocksThrottleReasons, code);
  Str *s = &e->v[F_clocks_event_reasons];
  clear(s);
  cat(s, "[");
  int first = 1;
  for (unsigned i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
    if ((bits & (1ULL << i)) == 0) continue;
    fmt(s, "%s\"%s\"", first ? "" : ",", NAMES[i]);
    first = 0;
  }
  for (unsigned i = sizeof NAMES / sizeof NAMES[0]; i < 64; i++) {
    if ((bits & (1ULL << i)) == 0) continue;
    fmt(s, "%s\"unknown_0x%llx\"", first ? "" : ",", 1ULL << i);
    first = 0;
  }
  cat(s, "]");
  return 1;
}

/* Volatile ECC counts: error type 0 corrected, 1 uncorrected; counter type 0 volatile. */
static int ecc(const Target *t, Entry *e, Failure *f, int type, Field field) {
  unsigned long long v = 0;
  int code = CALL(nvmlDeviceGetTotalEccErrors, fn_dev_int_int_ptr, t->h, type, 0, &v);
  if (code != RC_SUCCESS) return FAIL(S_nvmlDeviceGetTotalEccErrors, code);
  set_num(e, field, (double)v);
  return 1;
}
static int m_ecc_corrected(const Target *t, Entry *e, Failure *f) { return ecc(t, e, f, 0, F_ecc_corrected); }
static int m_ecc_uncorrected(const Target *t, Entry *e, Failure *f) { return ecc(t, e, f, 1, F_ecc_uncorrected); }

/*
 * Decodes `count` entries at `stride` bytes into the processes field.
 * Entries are sanity-checked (pid in 1..PID_MAX_LIMIT, memory within the
 * board's total): one bad entry means the layout guess was wrong, and the
 * whole list is dropped (null, with the reason) rather than published as
 * garbage.
 */
static void decode_processes(const Target *t, Entry *e, const unsigned char *buf, size_t size, unsigned count, unsigned stride) {
  Str *s = &e->v[F_processes];
  clear(s);
  char why[256] = "";
  if ((uint64_t)count * stride > size) {
    snprintf(why, sizeof why, "%u entries of %u bytes do not fit a %zu-byte buffer", count, stride, size);
  } else {
    cat(s, "[");
    for (unsigned i = 0; i < count && why[0] == '\0'; i++) {
      uint32_t pid = rd_u32(buf + (size_t)i * stride);
      uint64_t raw = rd_u64(buf + (size_t)i * stride + 8);
      if (pid < 1 || pid > PID_MAX_LIMIT) {
        snprintf(why, sizeof why, "entry %u has pid %u, outside 1..%u (wrong entry size?)", i, pid, PID_MAX_LIMIT);
        break;
      }
      double used = (double)raw;
      if (raw != NOT_AVAILABLE_U64 && t->has_memory_total && used > t->memory_total) {
        snprintf(why, sizeof why, "entry %u (pid %u) uses %.0f bytes, more than the board's %.0f (wrong entry size?)", i, pid, used,
                 t->memory_total);
        break;
      }
      fmt(s, "%s{\"pid\":%u,\"pid_namespace\":\"host\",\"used_memory_bytes\":", i == 0 ? "" : ",", pid);
      if (raw == NOT_AVAILABLE_U64) cat(s, "null");
      else jnum(s, used);
      cat(s, "}");
    }
    cat(s, "]");
  }
  if (why[0] != '\0') {
    clear(s);
    char key[NAME_SIZE + 32], text[300];
    snprintf(key, sizeof key, "gpus.%s.processes", t->uuid);
    snprintf(text, sizeof text, "process list dropped: %s", why);
    dict_set(t->reasons, key, text);
  }
}

/* The compute process list: ask for the count, then read into 32-byte slots (room for either layout) and decode at the detected stride. */
static int m_processes(const Target *t, Entry *e, Failure *f) {
  int v3 = has(S_nvmlDeviceGetComputeRunningProcesses_v3);
  Sym sym = v3 ? S_nvmlDeviceGetComputeRunningProcesses_v3 : S_nvmlDeviceGetComputeRunningProcesses_v2;
  unsigned stride = v3 ? t->stride : PROCESS_INFO_SIZE;
  unsigned count = 0;
  int code = v3 ? CALL(nvmlDeviceGetComputeRunningProcesses_v3, fn_dev_ptr2, t->h, &count, NULL)
                : CALL(nvmlDeviceGetComputeRunningProcesses_v2, fn_dev_ptr2, t->h, &count, NULL);
  /* Processes come and go between the two calls: retry a few times with room to spare. */
  for (int attempt = 0; attempt < 3 && code == RC_INSUFFICIENT_SIZE; attempt++) {
    unsigned capacity = count + 8;
    size_t size = (size_t)capacity * PROCESS_INFO_SIZE_535;
    unsigned char *buf = alloc_or_die(size);
    count = capacity;
    code = v3 ? CALL(nvmlDeviceGetComputeRunningProcesses_v3, fn_dev_ptr2, t->h, &count, buf)
              : CALL(nvmlDeviceGetComputeRunningProcesses_v2, fn_dev_ptr2, t->h, &count, buf);
    if (code == RC_SUCCESS) decode_processes(t, e, buf, size, count, stride);
    free(buf);
    if (code == RC_SUCCESS) return 1;
  }
  if (code != RC_SUCCESS) return FAIL(sym, code);
  clear(&e->v[F_processes]);
  cat(&e->v[F_processes], "[]");
  return 1;
}

static int m_mig_mode(const Target *t, Entry *e, Failure *f) {
  unsigned current = 0, pending = 0;
  int code = CALL(nvmlDeviceGetMigMode, fn_dev_ptr2, t->h, &current, &pending);
  if (code != RC_SUCCESS) return FAIL(S_nvmlDeviceGetMigMode, code);
  set_str(e, F_mig_mode, current == 1 ? "enabled" : "disabled");
  return 1;
}

/* Every per-tick reading of one device, in the order they are made: the fields each fills, and how to read them. */
static const struct {
  Field fields[2];
  unsigned n;
  int (*read)(const Target *, Entry *, Failure *);
  int not_on_mig;
} METRICS[] = {
    {{F_utilization_percent, F_memory_utilization_percent}, 2, m_utilization, 0},
    {{F_memory_used_bytes, F_memory_reserved_bytes}, 2, m_memory, 0},
    {{F_temperature_c}, 1, m_temperature, 0},
    {{F_power_watts}, 1, m_power, 0},
    {{F_power_limit_watts}, 1, m_power_limit, 0},
    {{F_energy_joules}, 1, m_energy, 0},
    {{F_fan_percent}, 1, m_fan, 0},
    {{F_clock_sm_mhz}, 1, m_clock_sm, 0},
    {{F_clock_mem_mhz}, 1, m_clock_mem, 0},
    {{F_clock_graphics_mhz}, 1, m_clock_graphics, 0},
    {{F_pcie_tx_bytes_per_sec}, 1, m_pcie_tx, 0},
    {{F_pcie_rx_bytes_per_sec}, 1, m_pcie_rx, 0},
    {{F_encoder_percent}, 1, m_encoder, 0},
    {{F_decoder_percent}, 1, m_decoder, 0},
    {{F_pstate}, 1, m_pstate, 0},
    {{F_clocks_event_reasons}, 1, m_event_reasons, 0},
    {{F_ecc_corrected}, 1, m_ecc_corrected, 0},
    {{F_ecc_uncorrected}, 1, m_ecc_uncorrected, 0},
    {{F_processes}, 1, m_processes, 0},
    /* A MIG device has no MIG mode of its own. */
    {{F_mig_mode}, 1, m_mig_mode, 1},
};

/* ---- entries ---- */

static void entry_init(Entry *e, const Identity *id, const char *health) {
  memset(e, 0, sizeof *e);
  e->id = id;
  e->health = health;
  if (id->has_pci) set_str(e, F_pci_bus_id, id->pci_bus_id);
  if (session->driver_version != NULL) set_str(e, F_driver_version, session->driver_version);
  if (session->cuda_driver_version != NULL) set_str(e, F_cuda_driver_version, session->cuda_driver_version);
  if (id->has_cc) set_str(e, F_compute_capability, id->compute_capability);
  if (id->has_max_clock) set_num(e, F_clock_max_sm_mhz, id->clock_max_sm_mhz);
  if (id->has_memory_total) set_num(e, F_memory_total_bytes, id->memory_total_bytes);
}

/* Appends the entry's JSON to out and frees its values. */
static void entry_write(Entry *e, Str *out) {
  fmt(out, "{\"index\":%u,\"uuid\":", e->id->index);
  jstr(out, e->id->uuid);
  cat(out, ",\"name\":");
  jstr(out, e->id->name);
  cat(out, ",\"parent_uuid\":");
  jstr(out, e->id->parent_uuid[0] == '\0' ? NULL : e->id->parent_uuid);
  for (int f = 0; f < N_FIELDS; f++) {
    fmt(out, ",\"%s\":", FIELD_NAMES[f]);
    cat(out, e->v[f].n == 0 ? "null" : e->v[f].p);
    drop(&e->v[f]);
  }
  fmt(out, ",\"health\":\"%s\",\"unsupported\":[", e->health);
  for (size_t i = 0; e->unsupported != NULL && i < e->unsupported->n; i++)
    fmt(out, "%s\"%s\"", i == 0 ? "" : ",", FIELD_NAMES[e->unsupported->field[i]]);
  cat(out, "]}");
}

static Unsupported *unsupported_of(const char *uuid) {
  for (size_t i = 0; i < session->n_unsupported; i++)
    if (strcmp(session->unsupported[i].uuid, uuid) == 0) return &session->unsupported[i];
  session->unsupported = realloc(session->unsupported, (session->n_unsupported + 1) * sizeof *session->unsupported);
  if (session->unsupported == NULL) _exit(70);
  Unsupported *u = &session->unsupported[session->n_unsupported++];
  memset(u, 0, sizeof *u);
  memcpy(u->uuid, uuid, sizeof u->uuid);
  return u;
}

static int cached(const Unsupported *u, Field f) {
  for (size_t i = 0; i < u->n; i++)
    if (u->field[i] == f) return 1;
  return 0;
}

static void schedule_reinit(void) {
  if (!session->has_reinit_at) {
    session->has_reinit_at = 1;
    session->reinit_at = now_ms() + opts.lost_retry_ms;
  }
}

/* A lost device's entry: its identity, no readings. */
static void write_lost(Device *dev, Dict *reasons, Str *gpus) {
  schedule_reinit();
  char key[NAME_SIZE + 8];
  snprintf(key, sizeof key, "gpus.%s", dev->id.uuid);
  dict_set(reasons, key, dev->lost);
  Entry e;
  entry_init(&e, &dev->id, "lost");
  entry_write(&e, gpus);
}

/*
 * Reads one device into gpus (with a leading comma unless first); answers
 * E_NVML when NVML as a whole failed (the collection fails), else OK and
 * whether the device is healthy in MIG mode.
 */
static int read_device(Device *dev, Dict *reasons, Str *gpus, int *mig_enabled) {
  *mig_enabled = 0;
  if (dev->lost != NULL) {
    write_lost(dev, reasons, gpus);
    return OK;
  }
  Entry e;
  entry_init(&e, &dev->id, "ok");
  Unsupported *cache = unsupported_of(dev->id.uuid);
  Target t = {dev->handle, dev->id.uuid, dev->is_mig, dev->id.has_memory_total, dev->id.memory_total_bytes, session->process_stride, reasons};
  for (size_t m = 0; m < sizeof METRICS / sizeof METRICS[0]; m++) {
    if (METRICS[m].not_on_mig && dev->is_mig) continue;
    int skip = 0;
    for (unsigned i = 0; i < METRICS[m].n; i++) skip |= cached(cache, METRICS[m].fields[i]);
    if (skip) continue;
    Failure f;
    if (METRICS[m].read(&t, &e, &f)) continue;
    nvml_error(f.sym, f.code);
    ErrorClass c = classify(f.code);
    if (c == C_DEVICE) {
      for (int i = 0; i < N_FIELDS; i++) drop(&e.v[i]);
      dev->lost = dup_or_die(err.msg);
      write_lost(dev, reasons, gpus);
      return OK;
    }
    if (c == C_DRIVER || c == C_UNINITIALIZED) {
      for (int i = 0; i < N_FIELDS; i++) drop(&e.v[i]);
      return E_NVML;
    }
    for (unsigned i = 0; i < METRICS[m].n; i++) {
      Field field = METRICS[m].fields[i];
      char key[NAME_SIZE + 64], text[256];
      if (c == C_UNSUPPORTED) {
        snprintf(text, sizeof text, "%s from %s", nvml_code_name(f.code), SYMBOL_NAMES[f.sym]);
        cache->field[cache->n] = field;
        cache->why[cache->n] = dup_or_die(text);
        cache->n++;
      } else {
        snprintf(key, sizeof key, "gpus.%s.%s", dev->id.uuid, FIELD_NAMES[field]);
        snprintf(text, sizeof text, "%s failed: %s", SYMBOL_NAMES[f.sym], nvml_code_name(f.code));
        dict_set(reasons, key, text);
      }
    }
  }
  for (size_t i = 0; i < cache->n; i++) {
    char key[NAME_SIZE + 64];
    snprintf(key, sizeof key, "gpus.%s.%s", dev->id.uuid, FIELD_NAMES[cache->field[i]]);
    dict_set(reasons, key, cache->why[i]);
  }
  *mig_enabled = e.v[F_mig_mode].n > 0 && strcmp(e.v[F_mig_mode].p, "\"enabled\"") == 0;
  e.unsupported = cache;
  entry_write(&e, gpus);
  return OK;
}

/* MIG devices of a parent in MIG mode, enumerated every collection (instances change without a re-init). */
static int read_mig_devices(const Device *parent, Dict *reasons, Str *gpus) {
  unsigned max = 0;
  if (CALL(nvmlDeviceGetMaxMigDeviceCount, fn_dev_ptr, parent->handle, &max) != RC_SUCCESS) return OK;
  for (unsigned slot = 0; slot < max; slot++) {
    Handle h = NULL;
    int code = CALL(nvmlDeviceGetMigDeviceHandleByIndex, fn_dev_uint_handle, parent->handle, slot, &h);
    if (code == RC_NOT_FOUND) continue;
    if (code != RC_SUCCESS) {
      char key[NAME_SIZE + 32], text[128];
      snprintf(key, sizeof key, "gpus.%s.mig.%u", parent->id.uuid, slot);
      snprintf(text, sizeof text, "nvmlDeviceGetMigDeviceHandleByIndex: %s", nvml_code_name(code));
      dict_set(reasons, key, text);
      continue;
    }
    char key[NAME_SIZE + 16];
    snprintf(key, sizeof key, "%s/%u", parent->id.uuid, slot);
    MigIdentity *mig = NULL;
    for (size_t i = 0; i < session->n_mig; i++)
      if (strcmp(session->mig[i].key, key) == 0) mig = &session->mig[i];
    Device dev = {h, {0}, 1, NULL};
    if (mig != NULL) {
      dev.id = mig->id;
    } else {
      int rc = read_identity(h, parent->id.index, &parent->id, &dev.id);
      if (rc == E_LOST) continue;
      if (rc != OK) return rc;
      session->mig = realloc(session->mig, (session->n_mig + 1) * sizeof *session->mig);
      if (session->mig == NULL) _exit(70);
      memcpy(session->mig[session->n_mig].key, key, sizeof key);
      session->mig[session->n_mig].id = dev.id;
      session->n_mig++;
    }
    cat(gpus, ",");
    int ignored;
    int rc = read_device(&dev, reasons, gpus, &ignored);
    free(dev.lost);
    if (rc != OK) return rc;
  }
  return OK;
}

/* ---- collection ---- */

/* A failed collection; retry_in_ms < 0 is null (no retry is scheduled). */
static void write_failed(Str *out, const char *reason, const char *hint, double retry_in_ms) {
  cat(out, "{\"status\":\"failed\",\"reason\":");
  jstr(out, reason);
  cat(out, ",\"hint\":");
  jstr(out, hint);
  cat(out, ",\"retry_in_ms\":");
  if (retry_in_ms < 0) cat(out, "null");
  else jnum(out, ceil(retry_in_ms));
  cat(out, "}");
}

static void fail(Str *out, double now) {
  /* NVML that lost its init state is re-initialised at once, without a shutdown it would refuse. */
  end_session_with(err.code != RC_UNINITIALIZED);
  failures++;
  double delay = 0;
  if (err.code != RC_UNINITIALIZED) {
    delay = opts.retry_base_ms * pow(2, failures - 1);
    if (delay > opts.retry_max_ms) delay = opts.retry_max_ms;
  }
  failed.active = 1;
  snprintf(failed.reason, sizeof failed.reason, "%s", err.msg);
  failed.hint = classify(err.code) == C_DRIVER ? operator_hint(err.code) : NULL;
  failed.retry_at = now + delay;
  write_failed(out, failed.reason, failed.hint, delay);
}

static void collect(Str *out) {
  double now = now_ms();
  if (failed.active && now < failed.retry_at) {
    write_failed(out, failed.reason, failed.hint, failed.retry_at - now);
    return;
  }
  if (session != NULL && session->has_reinit_at && now >= session->reinit_at) end_session();
  if (session == NULL && start_session() != OK) {
    fail(out, now);
    return;
  }
  Dict reasons = {0};
  Str gpus = {0};
  int rc = OK;
  for (size_t i = 0; rc == OK && i < session->n_devices; i++) {
    if (i > 0) cat(&gpus, ",");
    int mig;
    rc = read_device(&session->devices[i], &reasons, &gpus, &mig);
    if (rc == OK && mig) rc = read_mig_devices(&session->devices[i], &reasons, &gpus);
  }
  if (rc != OK) {
    dict_free(&reasons);
    drop(&gpus);
    fail(out, now);
    return;
  }
  failures = 0;
  failed.active = 0;
  cat(out, "{\"status\":\"ok\",\"gpus\":[");
  if (gpus.n > 0) cat(out, gpus.p);
  cat(out, "],\"reasons\":{");
  for (size_t i = 0; i < reasons.n; i++) {
    if (i > 0) cat(out, ",");
    jstr(out, reasons.key[i]);
    cat(out, ":");
    jstr(out, reasons.val[i]);
  }
  cat(out, "},\"info\":{\"library_path\":");
  jstr(out, library_path);
  cat(out, ",\"driver_version\":");
  jstr(out, session->driver_version);
  cat(out, ",\"nvml_version\":");
  jstr(out, session->nvml_version);
  cat(out, ",\"cuda_driver_version\":");
  jstr(out, session->cuda_driver_version);
  cat(out, "}}");
  dict_free(&reasons);
  drop(&gpus);
}

/* ---- loading the library (docs/gpu.md, decision 4) ---- */

static const char SONAME[] = "libnvidia-ml.so.1";
/* Where driver packages and the NVIDIA Container Toolkit put the library (agent/src/gpu/library-path.ts). */
static const char *const SEARCH_DIRS[] = {
    "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/usr/lib64", "/run/nvidia/driver/usr/lib/x86_64-linux-gnu",
    "/usr/lib/wsl/lib",
    /* Images with no multiarch directory (Alpine, busybox): the toolkit mounts it here. */
    "/usr/lib", "/lib64", "/lib",
};

typedef struct {
  char **path;
  size_t n;
} List;

static void list_add(List *l, const char *z) {
  l->path = realloc(l->path, (l->n + 1) * sizeof *l->path);
  if (l->path == NULL) _exit(70);
  l->path[l->n++] = dup_or_die(z);
}

/* dir/SONAME with the path normalised as Node's path.join does (repeated slashes, ".", ".."). */
static void join_soname(const char *dir, Str *out) {
  clear(out);
  Str parts = {0};
  const char *p = dir;
  size_t depth = 0;
  size_t starts[256];
  while (*p != '\0') {
    while (*p == '/') p++;
    const char *seg = p;
    while (*p != '\0' && *p != '/') p++;
    size_t len = (size_t)(p - seg);
    if (len == 0 || (len == 1 && seg[0] == '.')) continue;
    if (len == 2 && seg[0] == '.' && seg[1] == '.') {
      if (depth > 0) parts.n = starts[--depth], parts.p[parts.n] = '\0';
      continue;
    }
    if (depth < 256) starts[depth++] = parts.n;
    cat(&parts, "/");
    put(&parts, seg, len);
  }
  if (parts.n > 0) cat(out, parts.p);
  cat(out, "/");
  cat(out, SONAME);
  drop(&parts);
}

/*
 * Paths to try, in order: an explicit NVML_LIBRARY_PATH alone, else the bare
 * soname (the loader's search), the absolute directories of
 * LD_LIBRARY_PATH (the release's loader runs with its own library path
 * instead of that variable), then the driver directories.
 */
static List candidates(const char *explicit_path) {
  List l = {0};
  if (explicit_path != NULL) {
    list_add(&l, explicit_path);
    return l;
  }
  List dirs = {0};
  const char *env = getenv("LD_LIBRARY_PATH");
  char *copy = dup_or_die(env == NULL ? "" : env);
  for (char *save = NULL, *d = strtok_r(copy, ":", &save); d != NULL; d = strtok_r(NULL, ":", &save))
    if (d[0] == '/') list_add(&dirs, d);
  free(copy);
  for (size_t i = 0; i < sizeof SEARCH_DIRS / sizeof SEARCH_DIRS[0]; i++) list_add(&dirs, SEARCH_DIRS[i]);
  list_add(&l, SONAME);
  Str joined = {0};
  for (size_t i = 0; i < dirs.n; i++) {
    int seen = 0;
    for (size_t j = 0; j < i; j++) seen |= strcmp(dirs.path[i], dirs.path[j]) == 0;
    if (!seen) {
      join_soname(dirs.path[i], &joined);
      list_add(&l, joined.p);
    }
  }
  for (size_t i = 0; i < dirs.n; i++) free(dirs.path[i]);
  free(dirs.path);
  drop(&joined);
  return l;
}

/* What a bare soname resolved to: the libnvidia-ml file mapped into this process (/proc/self/maps), else the name. */
static char *mapped_library(const char *soname) {
  FILE *maps = fopen("/proc/self/maps", "r");
  char *found = NULL, *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while (maps != NULL && found == NULL && (len = getline(&line, &cap, maps)) > 0) {
    if (line[len - 1] == '\n') line[len - 1] = '\0';
    char *path = strchr(line, '/');
    if (path == NULL) continue;
    const char *base = strrchr(path, '/') + 1;
    if (strncmp(base, "libnvidia-ml.so", 15) == 0) found = dup_or_die(path);
  }
  free(line);
  if (maps != NULL) fclose(maps);
  return found != NULL ? found : dup_or_die(soname);
}

/*
 * Loads the first candidate the loader accepts and looks its symbols up.
 * Answers NULL, or the no-library result (in out) when none loads or the
 * one that loads lacks a critical symbol.
 */
static int load(const char *explicit_path, Str *no_library) {
  List l = candidates(explicit_path);
  Str errors = {0}, reason = {0};
  int loaded = 0;
  for (size_t i = 0; i < l.n && !loaded && reason.n == 0; i++) {
    void *lib = dlopen(l.path[i], RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
      /* dlerror() starts with the name it was given: said once, before the cause. */
      const char *why = dlerror();
      size_t len = strlen(l.path[i]);
      if (why == NULL) why = "unknown error";
      else if (strncmp(why, l.path[i], len) == 0 && strncmp(why + len, ": ", 2) == 0) why += len + 2;
      if (errors.n > 0) cat(&errors, "; ");
      cat(&errors, l.path[i]);
      cat(&errors, ": Failed to load shared library: ");
      cat(&errors, why);
      continue;
    }
    for (int s = 0; s < N_SYMBOLS; s++) fns[s] = dlsym(lib, SYMBOL_NAMES[s]);
    Str missing = {0};
    for (size_t c = 0; c < sizeof CRITICAL / sizeof CRITICAL[0]; c++)
      if (fns[CRITICAL[c]] == NULL) fmt(&missing, "%s%s", missing.n > 0 ? ", " : "", SYMBOL_NAMES[CRITICAL[c]]);
    if (missing.n > 0) {
      cat(&reason, l.path[i]);
      cat(&reason, " lacks ");
      cat(&reason, missing.p);
      cat(&reason, ": not a usable NVIDIA management library");
      memset(fns, 0, sizeof fns);
      dlclose(lib);
    } else {
      library_path = l.path[i][0] == '/' ? dup_or_die(l.path[i]) : mapped_library(l.path[i]);
      loaded = 1;
    }
    drop(&missing);
  }
  if (!loaded) {
    if (reason.n == 0) {
      cat(&reason, "no NVIDIA management library could be loaded (");
      if (errors.n > 0) cat(&reason, errors.p);
      cat(&reason, ")");
    }
    cat(no_library, "{\"status\":\"no-library\",\"reason\":");
    jstr(no_library, reason.p);
    cat(no_library, ",\"searched\":[");
    for (size_t i = 0; i < l.n; i++) {
      if (i > 0) cat(no_library, ",");
      jstr(no_library, l.path[i]);
    }
    cat(no_library, "]}");
  }
  for (size_t i = 0; i < l.n; i++) free(l.path[i]);
  free(l.path);
  drop(&errors);
  drop(&reason);
  return loaded;
}

/* ---- requests: flat JSON objects ---- */

typedef struct {
  char key[32];
  char type; /* 's' string, 'n' number, 'z' null, 'b' boolean */
  char *str;
  double num;
} Value;

static const char *skip_ws(const char *p) {
  while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
  return p;
}

static int hex4(const char *p, unsigned *out) {
  unsigned v = 0;
  for (int i = 0; i < 4; i++) {
    char c = p[i];
    v <<= 4;
    if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
    else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
    else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
    else return -1;
  }
  *out = v;
  return 0;
}

static void put_utf8(Str *s, unsigned cp) {
  char b[4];
  if (cp < 0x80) b[0] = (char)cp, put(s, b, 1);
  else if (cp < 0x800) b[0] = (char)(0xc0 | cp >> 6), b[1] = (char)(0x80 | (cp & 0x3f)), put(s, b, 2);
  else if (cp < 0x10000)
    b[0] = (char)(0xe0 | cp >> 12), b[1] = (char)(0x80 | ((cp >> 6) & 0x3f)), b[2] = (char)(0x80 | (cp & 0x3f)), put(s, b, 3);
  else
    b[0] = (char)(0xf0 | cp >> 18), b[1] = (char)(0x80 | ((cp >> 12) & 0x3f)), b[2] = (char)(0x80 | ((cp >> 6) & 0x3f)),
    b[3] = (char)(0x80 | (cp & 0x3f)), put(s, b, 4);
}

/* A JSON string at p (after its opening quote); answers the position after the closing quote, or NULL. */
static const char *parse_string(const char *p, Str *out) {
  clear(out);
  put(out, "", 0);
  while (*p != '"') {
    if (*p == '\0' || (unsigned char)*p < 0x20) return NULL;
    if (*p != '\\') {
      put(out, p++, 1);
      continue;
    }
    p++;
    switch (*p) {
      case '"': case '\\': case '/': put(out, p, 1); break;
      case 'b': cat(out, "\b"); break;
      case 'f': cat(out, "\f"); break;
      case 'n': cat(out, "\n"); break;
      case 'r': cat(out, "\r"); break;
      case 't': cat(out, "\t"); break;
      case 'u': {
        unsigned cp, lo;
        if (hex4(p + 1, &cp) != 0) return NULL;
        p += 4;
        if (cp >= 0xd800 && cp <= 0xdbff && p[1] == '\\' && p[2] == 'u' && hex4(p + 3, &lo) == 0 && lo >= 0xdc00 && lo <= 0xdfff) {
          cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          p += 6;
        } else if (cp >= 0xd800 && cp <= 0xdfff) {
          cp = 0xfffd;
        }
        if (cp == 0) return NULL; /* a NUL cannot be part of a path */
        put_utf8(out, cp);
        break;
      }
      default: return NULL;
    }
    p++;
  }
  return p + 1;
}

/* Parses one flat JSON object; answers its members, or NULL with why set. */
static int parse_request(const char *line, Value *vals, size_t max, size_t *n, const char **why) {
  Str s = {0};
  *n = 0;
  const char *p = skip_ws(line);
  if (*p++ != '{') return *why = "not a JSON object", -1;
  p = skip_ws(p);
  if (*p == '}') return skip_ws(p + 1)[0] == '\0' ? 0 : (*why = "text after the object", -1);
  for (;;) {
    if (*p != '"' || (p = parse_string(p + 1, &s)) == NULL) return drop(&s), *why = "bad member name", -1;
    if (*n == max) return drop(&s), *why = "too many members", -1;
    Value *v = &vals[(*n)++];
    memset(v, 0, sizeof *v);
    snprintf(v->key, sizeof v->key, "%s", s.p);
    p = skip_ws(p);
    if (*p++ != ':') return drop(&s), *why = "expected ':'", -1;
    p = skip_ws(p);
    if (*p == '"') {
      if ((p = parse_string(p + 1, &s)) == NULL) return drop(&s), *why = "bad string", -1;
      v->type = 's';
      v->str = dup_or_die(s.p);
    } else if (strncmp(p, "null", 4) == 0) {
      v->type = 'z', p += 4;
    } else if (strncmp(p, "true", 4) == 0 || strncmp(p, "false", 5) == 0) {
      v->type = 'b', p += p[0] == 't' ? 4 : 5;
    } else {
      char *end;
      if (!(*p == '-' || (*p >= '0' && *p <= '9'))) return drop(&s), *why = "unexpected value", -1;
      v->num = strtod(p, &end);
      if (end == p) return drop(&s), *why = "bad number", -1;
      v->type = 'n', p = end;
    }
    p = skip_ws(p);
    if (*p == ',') {
      p = skip_ws(p + 1);
      continue;
    }
    if (*p != '}') return drop(&s), *why = "expected ',' or '}'", -1;
    drop(&s);
    return skip_ws(p + 1)[0] == '\0' ? 0 : (*why = "text after the object", -1);
  }
}

static const Value *member(const Value *vals, size_t n, const char *key) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(vals[i].key, key) == 0) return &vals[i];
  return NULL;
}

/* A whole number of milliseconds, not negative (the protocol's `ms`). */
static int ms_member(const Value *vals, size_t n, const char *key, double *out) {
  const Value *v = member(vals, n, key);
  if (v == NULL || v->type != 'n' || v->num < 0 || v->num != trunc(v->num)) return -1;
  *out = v->num;
  return 0;
}

static void send_line(Str *msg) {
  cat(msg, "\n");
  fwrite(msg->p, 1, msg->n, stdout);
  fflush(stdout);
}

int main(void) {
  /* Started through the release's loader it would show as ld-linux-x86-64 in ps and top (15 characters at most). */
  prctl(PR_SET_NAME, "nvml-worker", 0, 0, 0);
  enum { NONE, LOADED, MISSING } state = NONE;
  Str no_library = {0}, msg = {0};
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  while ((len = getline(&line, &cap, stdin)) >= 0) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = '\0';
    if (skip_ws(line)[0] == '\0') continue;
    Value vals[16];
    size_t n = 0;
    const char *why = NULL;
    int ok = parse_request(line, vals, 16, &n, &why) == 0;
    const Value *op = ok ? member(vals, n, "op") : NULL;
    const Value *path = ok ? member(vals, n, "library_path") : NULL;
    const Value *id = ok ? member(vals, n, "id") : NULL;
    int is_config = op != NULL && op->type == 's' && strcmp(op->str, "config") == 0;
    int is_collect = op != NULL && op->type == 's' && strcmp(op->str, "collect") == 0;
    int is_shutdown = op != NULL && op->type == 's' && strcmp(op->str, "shutdown") == 0;
    if (ok && !is_config && !is_collect && !is_shutdown) ok = 0, why = "op must be config, collect or shutdown";
    if (ok && is_config &&
        (path == NULL || (path->type != 's' && path->type != 'z') || ms_member(vals, n, "retry_base_ms", &opts.retry_base_ms) != 0 ||
         ms_member(vals, n, "retry_max_ms", &opts.retry_max_ms) != 0 || ms_member(vals, n, "lost_retry_ms", &opts.lost_retry_ms) != 0))
      ok = 0, why = "config needs library_path (string or null) and retry_base_ms, retry_max_ms, lost_retry_ms (whole ms)";
    if (ok && is_collect && (id == NULL || id->type != 'n' || id->num != trunc(id->num) || fabs(id->num) > 9007199254740991.0))
      ok = 0, why = "collect needs an integer id";
    if (!ok) {
      Str bad = {0};
      jstr_n(&bad, line, strlen(line) > 200 ? 200 : strlen(line));
      fprintf(stderr, "nvml worker: bad request %s: %s\n", bad.p, why);
      drop(&bad);
    } else if (is_config) {
      if (state == NONE) state = load(path->type == 's' ? path->str : NULL, &no_library) ? LOADED : MISSING;
      clear(&msg);
      fmt(&msg, "{\"type\":\"ready\",\"pid\":%d}", (int)getpid());
      send_line(&msg);
    } else if (is_collect) {
      clear(&msg);
      cat(&msg, "{\"type\":\"result\",\"id\":");
      jnum(&msg, id->num);
      cat(&msg, ",\"result\":");
      if (state == NONE)
        write_failed(&msg, "NVML worker got a request before its configuration", NULL, -1);
      else if (state == MISSING)
        cat(&msg, no_library.p);
      else
        collect(&msg);
      cat(&msg, "}");
      send_line(&msg);
    }
    for (size_t i = 0; i < n; i++) free(vals[i].str);
    if (ok && is_shutdown) break;
  }
  /* Shutdown, or stdin closed (the agent went away): end the init cycle. */
  if (state == LOADED) end_session();
  free(line);
  drop(&no_library);
  drop(&msg);
  return 0;
}
