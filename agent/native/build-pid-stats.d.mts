// Types of build-pid-stats.mjs (plain JS, because scripts/build.mjs runs without tsx).
export declare const PID_STATS_LIB_NAME: string;
export declare function pidStatsCcArgs(source: string, out: string): string[];
export declare function compilePidStats(source: string, out: string): void;
