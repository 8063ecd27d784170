// `node --import ./record-modules.mjs`: appends the URL of every module the process resolves to
// $RECORD_MODULES_FILE, so a test can tell what a start loaded.
import { register } from "node:module";

register("./record-modules-hooks.mjs", import.meta.url, { data: { file: process.env.RECORD_MODULES_FILE } });
