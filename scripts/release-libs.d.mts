// Types of release-libs.mjs (plain JS, because scripts/build.mjs runs without tsx).
export declare const NVML_GLIBC_LIBS: readonly string[];
export declare function parseLdd(text: string): { libs: Record<string, string>; interpreter: string };
export declare function systemLibraryDir(libs: Record<string, string>): string;
export declare function libraryPaths(lddText: string, exists: (path: string) => boolean): Record<string, string>;
