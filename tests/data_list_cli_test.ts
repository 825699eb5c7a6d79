/** `--data a,b,c` (nlb_tools' separate files) is checked file by file before any work. */
import assert from "node:assert/strict";
import { checkDataFile, InputError } from "../scripts/_cli.ts";

Deno.test("checkDataFile: a comma-separated list names the missing or directory entry", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/a.h5`, "x");
    await Deno.mkdir(`${dir}/d`);
    await checkDataFile({ kind: "file", path: `${dir}/a.h5` }, "--data");
    await assert.rejects(
      () => checkDataFile({ kind: "file", path: `${dir}/a.h5,${dir}/missing.h5` }, "--data"),
      (e: Error) =>
        e instanceof InputError && /cannot read the data file .*missing\.h5/.test(e.message),
    );
    await assert.rejects(
      () => checkDataFile({ kind: "file", path: `${dir}/a.h5,${dir}/d` }, "--data"),
      (e: Error) => e instanceof InputError && /\/d is a directory/.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
