/**
 * A small Dockerfile reader and the image rules of issue #7: every base image
 * pinned, the aggregator's runtime stage hardened, the agent's final stage
 * holding only the two files other images copy. Pure functions on text, so
 * the rules are tested on broken Dockerfiles as well as the real ones.
 */

export interface Instruction {
  /** Upper-cased keyword: FROM, RUN, COPY ... */
  keyword: string;
  /** The rest of the instruction, continuation lines joined with a space. */
  args: string;
  line: number;
}

export interface Stage {
  image: string;
  name: string | null;
  line: number;
  instructions: Instruction[];
}

/** Splits a Dockerfile into instructions (comments dropped, `\` continuations joined). */
export function parseInstructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let pending = '';
  let startLine = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trimEnd();
    if (pending === '' && (line.trim() === '' || line.trimStart().startsWith('#'))) return;
    if (pending !== '' && line.trimStart().startsWith('#')) return;
    if (pending === '') startLine = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      return;
    }
    const full = (pending + line.trim()).trim();
    pending = '';
    const m = /^(\S+)\s*(.*)$/.exec(full);
    if (m?.[1] !== undefined) out.push({ keyword: m[1].toUpperCase(), args: m[2] ?? '', line: startLine });
  });
  if (pending !== '') throw new Error(`Dockerfile ends inside a continued instruction (line ${startLine})`);
  return out;
}

/** Groups instructions into build stages; instructions before the first FROM are refused. */
export function parseStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const ins of parseInstructions(text)) {
    if (ins.keyword === 'FROM') {
      const words = ins.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const image = words[0];
      if (image === undefined) throw new Error(`line ${ins.line}: FROM without an image`);
      const name = words[1]?.toUpperCase() === 'AS' ? (words[2] ?? null) : null;
      stages.push({ image, name, line: ins.line, instructions: [] });
      continue;
    }
    const current = stages.at(-1);
    if (current === undefined) {
      if (ins.keyword === 'ARG') continue;
      throw new Error(`line ${ins.line}: ${ins.keyword} before the first FROM`);
    }
    current.instructions.push(ins);
  }
  if (stages.length === 0) throw new Error('no FROM instruction');
  return stages;
}

const EXACT_TAG = /^\d+\.\d+(\.\d+)?([-.][A-Za-z0-9._-]+)?$/;
const DIGEST = /@sha256:[0-9a-f]{64}$/;

/** Why an image reference is not pinned to an exact version, or null when it is. */
export function unpinnedReason(image: string): string | null {
  if (image === 'scratch') return null;
  if (image.includes('$')) return `${image}: a variable base cannot be checked; pin it literally`;
  if (DIGEST.test(image)) return null;
  const slash = image.lastIndexOf('/');
  const colon = image.indexOf(':', slash + 1);
  if (colon < 0) return `${image}: no tag (means latest); pin an exact version`;
  const tag = image.slice(colon + 1);
  if (tag === 'latest') return `${image}: latest is not a version`;
  if (!EXACT_TAG.test(tag)) return `${image}: tag ${tag} is not an exact version (want e.g. 26.12.1-bookworm-slim or a digest)`;
  return null;
}

/** Every FROM that names neither an earlier stage nor a pinned image. */
export function unpinnedBases(stages: Stage[]): string[] {
  const names = new Set<string>();
  const problems: string[] = [];
  for (const s of stages) {
    if (!names.has(s.image)) {
      const why = unpinnedReason(s.image);
      if (why !== null) problems.push(`line ${s.line}: ${why}`);
    }
    if (s.name !== null) names.add(s.name);
  }
  return problems;
}

function finalStage(stages: Stage[]): Stage {
  const last = stages.at(-1);
  if (last === undefined) throw new Error('no stages');
  return last;
}

const BUILD_TOOLS = /\b(npm (ci|install|i)|yarn|pnpm|gcc|g\+\+|cc|make|build-essential|node-gyp|apt-get install)\b/;

/** The aggregator runtime rules: non-root USER, HEALTHCHECK on /healthz, EXPOSE, STOPSIGNAL, no build tools. */
/** Node flags and environment the image must start the aggregator with (scripts/aggregator-runtime.ts). */
export interface AggregatorRuntime {
  flags: readonly string[];
  env: Readonly<Record<string, string>>;
}

/** `KEY=value` pairs of one ENV instruction (the legacy `ENV KEY value` form as one pair). */
function envPairs(args: string): Map<string, string> {
  const out = new Map<string, string>();
  const legacy = /^([A-Za-z_][A-Za-z0-9_]*)\s+([^=]*)$/.exec(args.trim());
  if (legacy?.[1] !== undefined && legacy[2] !== undefined) return out.set(legacy[1], legacy[2].trim());
  for (const m of args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=("([^"]*)"|\S*)/g)) if (m[1] !== undefined) out.set(m[1], m[3] ?? m[2] ?? '');
  return out;
}

export function aggregatorRuntimeProblems(stages: Stage[], runtime?: AggregatorRuntime): string[] {
  const s = finalStage(stages);
  const problems: string[] = [];
  const last = (k: string): Instruction | undefined => s.instructions.filter((i) => i.keyword === k).at(-1);
  if (s.image === 'scratch') problems.push('the runtime stage needs Node: FROM scratch');
  const user = last('USER');
  if (user === undefined) problems.push('no USER in the final stage (it would run as root)');
  else if (/^(root|0)(:|$)/.test(user.args.trim())) problems.push(`line ${user.line}: USER ${user.args} is root`);
  const hc = last('HEALTHCHECK');
  if (hc === undefined || /^NONE\b/i.test(hc.args.trim())) problems.push('no HEALTHCHECK in the final stage');
  else if (!hc.args.includes('/healthz')) problems.push(`line ${hc.line}: the HEALTHCHECK does not probe /healthz`);
  if (last('EXPOSE') === undefined) problems.push('no EXPOSE in the final stage');
  if (last('STOPSIGNAL') === undefined) problems.push('no STOPSIGNAL in the final stage');
  for (const i of s.instructions) {
    if (i.keyword === 'RUN' && BUILD_TOOLS.test(i.args)) problems.push(`line ${i.line}: build tool in the final stage: RUN ${i.args}`);
  }
  const cmd = last('CMD') ?? last('ENTRYPOINT');
  if (cmd === undefined || !cmd.args.includes('dist/aggregator.cjs')) problems.push('the final stage does not run dist/aggregator.cjs');
  if (runtime !== undefined && cmd !== undefined) {
    const want = JSON.stringify(['node', ...runtime.flags, 'dist/aggregator.cjs']);
    let got: unknown = null;
    try {
      got = JSON.parse(cmd.args);
    } catch {
      // shell form: reported below
    }
    if (JSON.stringify(got) !== want) problems.push(`line ${cmd.line}: ${cmd.keyword} ${cmd.args}; want ${cmd.keyword} ${want.replaceAll(',', ', ')}`);
    const env = new Map<string, string>();
    for (const i of s.instructions) if (i.keyword === 'ENV') for (const [k, v] of envPairs(i.args)) env.set(k, v);
    for (const [k, v] of Object.entries(runtime.env)) if (env.get(k) !== v) problems.push(`the final stage sets ${k}=${env.get(k) ?? '(nothing)'}; want ENV ${k}=${v}`);
  }
  return problems;
}

/**
 * The agent image rule: the final stage is scratch holding exactly the
 * release directory /opt/system-monitor (an ENTRYPOINT or LABEL may describe it).
 */
export function agentFinalStageProblems(stages: Stage[], wanted: readonly string[] = ['/opt/system-monitor']): string[] {
  const s = finalStage(stages);
  const problems: string[] = [];
  if (s.image !== 'scratch') problems.push(`the final stage is FROM ${s.image}, not scratch`);
  const copied: string[] = [];
  for (const i of s.instructions) {
    if (i.keyword === 'COPY') {
      const words = i.args.split(/\s+/).filter((w) => !w.startsWith('--'));
      const dest = words.at(-1);
      if (words.length !== 2 || dest === undefined) problems.push(`line ${i.line}: COPY must copy one source to one path (${i.args})`);
      else copied.push(dest);
    } else if (i.keyword !== 'LABEL' && i.keyword !== 'ENTRYPOINT' && i.keyword !== 'CMD') {
      problems.push(`line ${i.line}: ${i.keyword} in the final stage (only the COPY of the release belongs there)`);
    }
  }
  const got = [...copied].sort();
  const want = [...wanted].sort();
  if (JSON.stringify(got) !== JSON.stringify(want)) problems.push(`the final stage holds ${got.join(', ') || 'nothing'}; want exactly ${want.join(', ')}`);
  return problems;
}

/** The npm scripts `RUN npm run <name>` names, in every stage. */
export function npmScriptsRun(stages: Stage[]): string[] {
  const names: string[] = [];
  for (const s of stages) {
    for (const i of s.instructions) {
      if (i.keyword !== 'RUN') continue;
      for (const m of i.args.matchAll(/\bnpm\s+run(?:-script)?\s+([A-Za-z0-9:_.-]+)/g)) {
        if (m[1] !== undefined) names.push(m[1]);
      }
      if (/\bnpm\s+(test|start)\b/.test(i.args)) names.push(/\bnpm\s+start\b/.test(i.args) ? 'start' : 'test');
    }
  }
  return names;
}
