/**
 * Run one of the repository's scripts in a subprocess (the CLI tests), as `deno run -A
 * scripts/<script> ...args` from the repository root with NO_COLOR set.
 *
 * @module
 */

/** The repository root (with a trailing slash). */
export const ROOT = new URL("..", import.meta.url).pathname;

/** What a script run printed, and its exit code. */
export interface ScriptRun {
  /** Exit code. */
  code: number;
  /** Standard output. */
  out: string;
  /** Standard error. */
  err: string;
}

/** Run `scripts/<script>` with `args` and collect its exit code and output. */
export async function runScript(script: string, args: string[]): Promise<ScriptRun> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/${script}`, ...args],
    cwd: ROOT,
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: r.code,
    out: new TextDecoder().decode(r.stdout),
    err: new TextDecoder().decode(r.stderr),
  };
}
