// Which shared libraries the release ships (scripts/build.mjs): what the
// single executable links, found by glibc's ldd, plus the glibc libraries
// NVML (libnvidia-ml.so.1, mounted into a container at run time) links and
// the SEA itself does not: they must come from the release too, because a
// musl or empty image has no glibc to give them.

/** glibc libraries libnvidia-ml.so.1 needs (objdump -p: NEEDED) beyond the SEA's own. */
export const NVML_GLIBC_LIBS = ['libc.so.6', 'libm.so.6', 'libdl.so.2', 'libpthread.so.0', 'librt.so.1'];

/**
 * `ldd` output to { soname: path } for every library resolved from a file,
 * and the program interpreter under `interpreter`. The vDSO has no file and
 * is left out; an unresolved library ("not found") is an error naming it.
 */
export function parseLdd(text) {
  const libs = {};
  let interpreter = null;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('linux-vdso') || line.startsWith('linux-gate')) continue;
    const resolved = /^(\S+) => (\S+)(?: \(0x[0-9a-f]+\))?$/.exec(line);
    if (resolved !== null) {
      const [, name, path] = resolved;
      if (path === 'not') throw new Error(`ldd: ${name} not found on the build machine; install the package that holds it`);
      libs[name] = path;
      continue;
    }
    const direct = /^(\/\S+) \(0x[0-9a-f]+\)$/.exec(line);
    if (direct !== null) {
      interpreter = direct[1];
      continue;
    }
    if (/ => not found$/.test(line)) throw new Error(`ldd: ${line.split(' ')[0]} not found on the build machine; install the package that holds it`);
  }
  if (interpreter === null) throw new Error('ldd printed no program interpreter: the single executable is not a dynamically linked glibc program');
  return { libs, interpreter };
}

/** The directory glibc's libc.so.6 came from (where librt and the other NVML libraries are too). */
export function systemLibraryDir(libs) {
  const libc = libs['libc.so.6'];
  if (libc === undefined) throw new Error('ldd did not list libc.so.6: the build machine is not a glibc system (the release is built on Debian)');
  return libc.slice(0, libc.lastIndexOf('/'));
}

/** Every file the release's lib/ holds: { name in lib/: source path }. */
export function libraryPaths(lddText, exists) {
  const { libs, interpreter } = parseLdd(lddText);
  const out = { 'ld-linux-x86-64.so.2': interpreter, ...libs };
  const dir = systemLibraryDir(libs);
  for (const name of NVML_GLIBC_LIBS) {
    if (out[name] !== undefined) continue;
    const path = `${dir}/${name}`;
    if (!exists(path)) throw new Error(`${path} is missing on the build machine (Debian package libc6)`);
    out[name] = path;
  }
  return out;
}
