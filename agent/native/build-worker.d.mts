// Types of build-worker.mjs (plain JS, because scripts/build.mjs runs without tsx).
export declare const NVML_WORKER_NAME: string;
export declare function nvmlWorkerCcArgs(source: string, out: string): string[];
export declare function compileNvmlWorker(source: string, out: string): void;
