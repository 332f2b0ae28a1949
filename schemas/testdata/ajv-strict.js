// Compiles coupler's JSON Schemas with ajv in strict mode, as an editor
// extension or a CI pipeline would, and validates instances against them.
// Usage: node ajv-strict.js AJV_DIR AJV_FORMATS_DIR SCHEMA.json... [-- ID INSTANCE.json]...
// Every warning ajv would log is an error here.
"use strict";
const fs = require("fs");
const [ajvDir, formatsDir, ...rest] = process.argv.slice(2);
const Ajv2020 = require(ajvDir + "/dist/2020").default;
const addFormats = require(formatsDir).default;
const fail = (msg) => { throw new Error(msg); };
const ajv = new Ajv2020({
  // strict: true turns every strict-mode check from a warning into an error:
  // unknown keywords and formats, ignored keywords, missing types.
  strict: true,
  // Union types ("type": ["string", "integer"]) are standard JSON Schema.
  allowUnionTypes: true,
  // Off, as it is by default: it rejects the usual anyOf of required keys
  // that the parent schema declares.
  strictRequired: false,
  allErrors: true,
  logger: { log() {}, warn: fail, error: fail },
});
addFormats(ajv);
const sep = rest.indexOf("--");
const schemaFiles = sep < 0 ? rest : rest.slice(0, sep);
const instances = sep < 0 ? [] : rest.slice(sep + 1);
let failed = false;
for (const f of schemaFiles) ajv.addSchema(JSON.parse(fs.readFileSync(f, "utf8")));
for (const f of schemaFiles) {
  const id = JSON.parse(fs.readFileSync(f, "utf8")).$id;
  try {
    ajv.getSchema(id);
    console.log(`compiled ${id}`);
  } catch (e) {
    console.log(`${f}: ${e.message}`);
    failed = true;
  }
}
for (let i = 0; i + 1 < instances.length; i += 2) {
  const [id, f] = [instances[i], instances[i + 1]];
  const validate = ajv.getSchema(id);
  if (!validate(JSON.parse(fs.readFileSync(f, "utf8")))) {
    console.log(`${f} against ${id}: ${ajv.errorsText(validate.errors)}`);
    failed = true;
  } else {
    console.log(`valid ${f} against ${id}`);
  }
}
process.exit(failed ? 1 : 0);
