// Judges inputs against the committed schemas with the validator hosts draw forms with: Ajv in
// its JSON Schema 2020-12 dialect, with ajv-formats and ajv-errors (`strict: false`, as rjsf and
// JSON Forms configure it). Reads `[{"schema": "put_object.input", "data": {...}}, ...]` on
// stdin; prints `[{"valid": bool, "errors": [{instancePath, keyword, params, message}]}, ...]`.
// Used by tests/schema_parity.rs.
import { readFileSync } from 'node:fs';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import addErrors from 'ajv-errors';

const schemas = new URL('../schemas/', import.meta.url);
const ajv = new Ajv2020({ allErrors: true, strict: false });
addFormats(ajv);
addErrors(ajv);

const compiled = new Map();
const judge = ({ schema, data }) => {
  if (!compiled.has(schema)) {
    const text = readFileSync(new URL(`${schema}.json`, schemas), 'utf8');
    compiled.set(schema, ajv.compile(JSON.parse(text)));
  }
  const validate = compiled.get(schema);
  const valid = validate(data);
  const errors = (validate.errors || []).map(({ instancePath, keyword, params, message }) => ({
    instancePath,
    keyword,
    params,
    message,
  }));
  return { valid, errors };
};

const cases = JSON.parse(readFileSync(0, 'utf8'));
process.stdout.write(JSON.stringify(cases.map(judge)));
