// Draws every schemas/*.input.json and schemas/connection.json in rjsf 6 (core theme) and JSON
// Forms 3 (Material renderers, MUI 7) in headless Chromium, each with its generated UI schema
// (schemas/ui/); checks what a person sees on put_object and the connection form (field order,
// groups, error texts, masked secrets); and fills forms in through the UI (put, get, copy, upload,
// delete_prefix, presign_get_object) whose submitted input is run through the connector. Run by `cargo test --test forms` (tests/forms.rs), which sets
// S3_CONNECTOR_BIN and S3_CONNECTOR_TEST_CONNECTION; or by hand from the repository root:
//   node --test forms/test/
// (the filled-form part then fails unless both variables are set).
//
// Per-schema results (what each untouched form yields, and every problem) are written to
// target/forms/report.json. FORMS_SCREENSHOTS=<dir> saves a few PNGs of drawn forms.
// FORMS_DEV=1 draws with React's development build (its and MUI's dev-only warnings count as
// problems like any other console warning).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { chromium } from 'playwright-core';
import { buildPage, outDir, dev } from '../build.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(here, '..', '..');
const SCHEMAS = path.join(ROOT, 'schemas');
const UI = path.join(SCHEMAS, 'ui');
const CHROMIUM = '/usr/bin/chromium';
const LIBS = ['rjsf', 'jsonforms'];
const REPORT = path.join(outDir, 'report.json');
const SHOTS = process.env.FORMS_SCREENSHOTS || '';

const report = {
  generated: new Date().toISOString(),
  libraries: {},
  note:
    'untouched[name][lib].data is the form data of the untouched form (rjsf: Form formData with ' +
    'no formData given; JSON Forms: onChange data starting from {}); problems lists console ' +
    'errors/warnings, page errors, "No applicable ... found" text and keys the untouched form ' +
    'sets that are neither required nor equal to their default.',
  summary: {},
  untouched: {},
  seen: {},
  filled: {},
};

let server;
let browser;
let page;
let baseUrl;
let messages = []; // console errors/warnings and page errors since the last reset

function writeReport() {
  fs.mkdirSync(outDir, { recursive: true });
  fs.writeFileSync(REPORT, JSON.stringify(report, null, 2) + '\n');
}

function serve(dir) {
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8' };
  const srv = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    const name = path.basename(url.pathname === '/' ? '/page.html' : url.pathname);
    const file = path.join(dir, name);
    if (!types[path.extname(name)] || !fs.existsSync(file)) {
      res.writeHead(404);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': types[path.extname(name)], 'cache-control': 'no-store' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => resolve(srv));
  });
}

function readJson(file) {
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

function uiSchemaFor(name, lib) {
  const file = path.join(UI, `${name}.${lib === 'rjsf' ? 'rjsf' : 'jsonforms'}.json`);
  return fs.existsSync(file) ? readJson(file) : undefined;
}

function schemaList() {
  const inputs = fs
    .readdirSync(SCHEMAS)
    .filter((f) => f.endsWith('.input.json'))
    .sort()
    .map((f) => ({ name: f.slice(0, -'.input.json'.length), file: path.join(SCHEMAS, f) }));
  return [...inputs, { name: 'connection', file: path.join(SCHEMAS, 'connection.json') }];
}

function installVersions() {
  const out = {};
  for (const dep of [
    'react',
    'react-dom',
    '@rjsf/core',
    '@rjsf/utils',
    '@rjsf/validator-ajv8',
    '@jsonforms/core',
    '@jsonforms/react',
    '@jsonforms/material-renderers',
    '@mui/material',
    '@mui/icons-material',
    '@mui/x-date-pickers',
    '@emotion/react',
    '@emotion/styled',
    'ajv',
    'ajv-formats',
    'ajv-errors',
    'playwright-core',
  ]) {
    try {
      out[dep] = readJson(path.join(ROOT, 'forms', 'node_modules', dep, 'package.json')).version;
    } catch {
      out[dep] = null;
    }
  }
  return out;
}

async function render(lib, schema, uischema, formData) {
  messages = [];
  await page.evaluate((a) => window.harness.render(a), { lib, schema, uischema, formData });
}

async function formText() {
  return page.evaluate(() => (document.getElementById('form') || document.body).innerText);
}

async function harnessData() {
  return page.evaluate(() => window.harness.data());
}

// Console events arrive asynchronously; one round trip through the page lets those the last
// action caused arrive before they are read.
async function drainMessages() {
  await page.evaluate(() => new Promise((r) => setTimeout(r, 0)));
  const m = messages;
  messages = [];
  return m;
}

function deepEqual(a, b) {
  try {
    assert.deepStrictEqual(a, b);
    return true;
  } catch {
    return false;
  }
}

// Keys an untouched form may set: required ones, or ones equal to their property's default.
function unexpectedKeys(schema, data) {
  const out = [];
  if (data === null || data === undefined) return out;
  if (typeof data !== 'object' || Array.isArray(data)) return [`(data is ${JSON.stringify(data)})`];
  const required = new Set(schema.required || []);
  const props = schema.properties || {};
  for (const [k, v] of Object.entries(data)) {
    if (required.has(k)) continue;
    const p = props[k];
    if (p && Object.prototype.hasOwnProperty.call(p, 'default')) {
      if (!deepEqual(v, p.default)) out.push(`${k}=${JSON.stringify(v)} (default ${JSON.stringify(p.default)})`);
      continue;
    }
    out.push(`${k}=${JSON.stringify(v)}`);
  }
  return out;
}

async function screenshot(file) {
  if (!SHOTS) return;
  fs.mkdirSync(SHOTS, { recursive: true });
  const box = await page.locator('#form').boundingBox();
  const clip = box
    ? { x: Math.max(0, box.x - 8), y: Math.max(0, box.y - 8), width: box.width + 16, height: box.height + 16 }
    : undefined;
  await page.screenshot({ path: path.join(SHOTS, file), fullPage: true, clip });
}

before(async () => {
  assert.ok(
    fs.existsSync(CHROMIUM),
    `${CHROMIUM} is missing: run scripts/install-forms (or scripts/install-tools)`,
  );
  report.libraries = installVersions();
  report.react_build = dev ? 'development' : 'production';
  await buildPage();
  server = await serve(outDir);
  baseUrl = `http://127.0.0.1:${server.address().port}/page.html`;
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // playwright-core gives every launch a fresh temporary user-data-dir.
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30_000,
  });
  const context = await browser.newContext({ viewport: { width: 1000, height: 800 } });
  // Nothing leaves 127.0.0.1: any other request is refused.
  await context.route(
    (url) => !(url.hostname === '127.0.0.1' && url.port === String(server.address().port)),
    (route) => {
      messages.push(`request blocked: ${route.request().url()}`);
      return route.abort();
    },
  );
  page = await context.newPage();
  page.setDefaultTimeout(5_000);
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') messages.push(`console.${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => messages.push(`page error: ${e.message}`));
  await page.goto(baseUrl);
  await page.waitForFunction(() => window.harness && document.documentElement.dataset.harness === 'ready');
  report.libraries.react_in_page = await page.evaluate(() => window.harness.versions.react);
  const early = await drainMessages();
  assert.deepEqual(early, [], 'the page itself logged errors or warnings');
}, { timeout: 60_000 });

after(async () => {
  writeReport();
  if (browser) await browser.close().catch(() => {});
  if (server) await new Promise((r) => server.close(() => r()));
});

test('every schema draws in rjsf and JSON Forms, untouched data holds only required keys and defaults', { timeout: 120_000 }, async () => {
  const t0 = Date.now();
  const list = schemaList();
  assert.ok(list.length > 100, `expected every operation's schema, found ${list.length}`);
  const failures = [];
  let renders = 0;
  for (const { name, file } of list) {
    const schema = readJson(file);
    report.untouched[name] = {};
    for (const lib of LIBS) {
      const uischema = uiSchemaFor(name, lib);
      const problems = [];
      let data = null;
      try {
        await render(lib, schema, uischema);
        renders += 1;
        const text = await formText();
        const noRenderer = text.match(/No applicable \w+ found\.?/g);
        if (noRenderer) problems.push(`page shows "${[...new Set(noRenderer)].join('", "')}"`);
        if (await page.locator('#harness-crash').count()) problems.push('the form threw while rendering');
        data = await harnessData();
        for (const k of unexpectedKeys(schema, data)) problems.push(`untouched form sets ${k}`);
        problems.push(...(await drainMessages()));
      } catch (e) {
        problems.push(`harness error: ${e.message.split('\n')[0]}`);
      }
      const uniq = [...new Set(problems)];
      report.untouched[name][lib] = { ok: uniq.length === 0, ui_schema: uischema !== undefined, data, problems: uniq };
      // The assertion message keeps each problem short; report.json has them whole.
      const short = uniq.map((p) => (p.length > 160 ? `${p.slice(0, 157)}...` : p));
      if (uniq.length) failures.push(`${name} [${lib}]: ${short.join('; ')}`);
      if (SHOTS && ['put_object', 'connection', 'copy_object'].includes(name)) await screenshot(`${name}.${lib}.png`);
    }
  }
  const perLib = Object.fromEntries(
    LIBS.map((lib) => [lib, list.filter(({ name }) => !report.untouched[name][lib].ok).length]),
  );
  report.summary.untouched = {
    schemas: list.length,
    renders,
    failing: perLib,
    seconds: (Date.now() - t0) / 1000,
  };
  writeReport();
  console.log(
    `forms: ${list.length} schemas x ${LIBS.length} libraries = ${renders} renders in ` +
      `${((Date.now() - t0) / 1000).toFixed(1)} s; failing: rjsf ${perLib.rjsf}, jsonforms ` +
      `${perLib.jsonforms}; details in ${path.relative(ROOT, REPORT)}`,
  );
  assert.equal(
    failures.length,
    0,
    `${failures.length} schema/library renders have problems:\n  ${failures.join('\n  ')}`,
  );
});

// ---------------------------------------------------------------------------------------------
// Filled forms: driven through the UI, then run through the connector.

function connector(command, envelope) {
  const bin = process.env.S3_CONNECTOR_BIN;
  const r = spawnSync(bin, [command], {
    input: JSON.stringify(envelope),
    encoding: 'utf8',
    timeout: 60_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  let json = null;
  try {
    json = JSON.parse(r.stdout.trim().split('\n').pop() || 'null');
  } catch {
    json = null;
  }
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, json, error: r.error };
}

function runOk(conn, operation, input, what) {
  const envelope = { operation, connection: conn, input };
  const v = connector('validate', envelope);
  assert.equal(
    v.code,
    0,
    `${what}: \`validate\` exited ${v.code} for ${JSON.stringify(input)}:\n${v.stdout}${v.stderr}`,
  );
  const r = connector('run', envelope);
  assert.ok(
    r.code === 0 && r.json && r.json.ok === true,
    `${what}: \`run\` exited ${r.code} for ${JSON.stringify(input)}:\n${r.stdout}${r.stderr}`,
  );
  return r.json.output;
}

// The input element drawing property `name` (top level), by the id the library generates
// (rjsf: root_<name>; JSON Forms Material: #/properties/<name>-input for text, number and
// checkbox inputs, #/properties/<name> for the combobox of an enum), else by its label text
// (the property's title).
async function field(lib, name, schema) {
  const ids = lib === 'rjsf' ? [`root_${name}`] : [`#/properties/${name}-input`, `#/properties/${name}`];
  for (const id of ids) {
    const byId = page.locator(`input[id="${id}"], textarea[id="${id}"], select[id="${id}"]`);
    if ((await byId.count()) === 1) return byId;
  }
  const title = schema.properties[name] && schema.properties[name].title;
  if (title) {
    const esc = title.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    const byLabel = page.getByLabel(new RegExp(`^\\s*${esc}\\s*\\*?\\s*$`));
    if ((await byLabel.count()) === 1) return byLabel;
  }
  return null;
}

// JSON Forms Material text inputs hand their value to JSON Forms 300 ms after the last
// keystroke (a debounce; blur does not flush it): wait that out before reading data or errors.
async function settleTyping(lib) {
  if (lib === 'jsonforms') await page.waitForTimeout(400);
}

// Draws a form to fill in. Console warnings of the drawing itself are the first test's
// business (recorded here in the report); the filled-form checks fail only on those that
// filling in causes.
async function renderToFill(lib, op, schema, rec) {
  await render(lib, schema, uiSchemaFor(op, lib));
  rec[op] = { render_problems: await drainMessages() };
}

async function mustField(lib, name, schema, op) {
  const f = await field(lib, name, schema);
  assert.ok(f, `${op} [${lib}]: the form drew no input for ${name} (no id root_${name} / #/properties/${name}-input, no label)`);
  return f;
}

async function typeInto(lib, name, schema, op, value) {
  const f = await mustField(lib, name, schema, op);
  await f.fill(value);
  await f.blur();
}

// Ticks (on) or unticks (off) a boolean's checkbox by clicking it, as a person would.
async function tick(lib, name, schema, op, on = true) {
  const f = await mustField(lib, name, schema, op);
  assert.equal(await f.getAttribute('type'), 'checkbox', `${op} [${lib}]: ${name} is not drawn as a checkbox`);
  await f.setChecked(on);
}

// rjsf only: clicks the Submit button as a person would when the browser's own check of required
// inputs is expected to stop it (rjsf puts `required` on the inputs of required fields, a
// conditionally required one included). Returns the ids of the inputs the browser reported
// invalid (`invalid` events), whether the form was submitted anyway, the focused input (the
// browser focuses the first invalid one and shows its message there) and that message.
async function clickSubmitExpectingBrowserCheck() {
  await page.evaluate(() => {
    const form = document.querySelector('#form form');
    window.__check = { invalid: [], submitted: false };
    form.addEventListener('invalid', (e) => window.__check.invalid.push(e.target.id), { capture: true });
    form.addEventListener('submit', () => { window.__check.submitted = true; }, { capture: true });
  });
  await page.locator('#form button[type="submit"]').click();
  return page.evaluate(() => {
    const el = document.activeElement;
    return {
      ...window.__check,
      focused: el ? el.id : null,
      message: el && typeof el.validationMessage === 'string' ? el.validationMessage : '',
    };
  });
}

// Picks the option meaning `value` as a person would, by the text the form shows for it: the
// oneOf const's title, rjsf's `ui:enumNames` entry, or the value itself. rjsf draws a native
// <select> whose option values are indexes into the choices (so an rjsf option is also found
// by its index); JSON Forms Material draws an Autocomplete combobox: click it, click the option.
async function pick(lib, name, schema, op, value) {
  const f = await mustField(lib, name, schema, op);
  const prop = schema.properties[name] || {};
  const choices = prop.oneOf || prop.anyOf || [];
  const titles = [];
  const constChoice = choices.find((c) => c.const === value);
  if (constChoice && constChoice.title) titles.push(constChoice.title);
  const index = prop.enum ? prop.enum.indexOf(value) : choices.indexOf(constChoice);
  const ui = uiSchemaFor(op, lib);
  const enumNames = lib === 'rjsf' && ui && ui[name] && ui[name]['ui:enumNames'];
  if (enumNames && index >= 0 && enumNames[index]) titles.push(enumNames[index]);
  titles.push(value);
  if ((await f.getAttribute('role')) === 'combobox') {
    await f.click();
    const shown = (await page.getByRole('option').allTextContents()).map((t) => t.trim());
    const text = titles.find((t) => shown.includes(t));
    assert.ok(text, `${op} [${lib}]: ${name} offers no option for ${value} (looked for ${JSON.stringify(titles)} among ${JSON.stringify(shown)})`);
    await page.getByRole('option', { name: text, exact: true }).click();
    await f.blur();
    return;
  }
  const optionValue = await f.evaluate(
    (sel, { value, titles, index, rjsf }) => {
      const opts = [...sel.options];
      const text = (o) => (o.label || o.textContent).trim();
      for (const t of titles) {
        const o = opts.find((o) => text(o) === t);
        if (o) return o.value;
      }
      const byValue = opts.find((o) => o.value === value);
      if (byValue) return byValue.value;
      const byIndex = rjsf && index >= 0 && opts.find((o) => o.value === String(index));
      return byIndex ? byIndex.value : null;
    },
    { value, titles, index, rjsf: lib === 'rjsf' },
  );
  assert.ok(optionValue !== null, `${op} [${lib}]: ${name} has no option for ${value} (looked for ${JSON.stringify(titles)})`);
  await f.selectOption(optionValue);
}

// One metadata entry color=<value>, as each library's UI schema offers it: rjsf edits the
// `x-amz-meta-` map (Add, then a key input and a value input); the JSON Forms UI schema shows
// `MetadataEntries` instead (an array of {Name, Value}: a table with an "Add to" button).
async function addMetadata(lib, op, value = 'blue') {
  if (lib === 'rjsf') {
    const name = 'x-amz-meta-';
    const add = page.locator(`[id="root_${name}__add"]`);
    assert.equal(await add.count(), 1, `${op} [rjsf]: no Add button for ${name}`);
    await add.click();
    const key = page.locator(`[id$="-key"][id^="root_${name}_"]`);
    assert.equal(await key.count(), 1, `${op} [rjsf]: no key input after Add`);
    await key.fill('color');
    await key.blur(); // rjsf renames the entry on blur
    const valueInput = page.locator(`[id="root_${name}_color"]`);
    assert.equal(await valueInput.count(), 1, `${op} [rjsf]: no value input after renaming the entry`);
    await valueInput.fill(value);
    await valueInput.blur();
    return;
  }
  const add = page.getByRole('button', { name: /^Add to Metadata entries/ });
  assert.equal(await add.count(), 1, `${op} [jsonforms]: no "Add to Metadata entries" button`);
  await add.click();
  const row = add.locator('xpath=ancestor::table[1]').locator('tbody tr').last();
  const cells = row.locator('input');
  assert.equal(await cells.count(), 2, `${op} [jsonforms]: the new Metadata entries row has no Name and Value inputs`);
  await cells.nth(0).fill('color');
  await cells.nth(1).fill(value);
  await cells.nth(1).blur();
}

// The error text the form shows at a field: rjsf's field error list (root_<name>__error, drawn
// after a submit attempt), JSON Forms Material's error helper text under the control (live,
// shown while the input does not have focus; a checkbox has no FormControl around it, its helper
// texts follow its label).
async function shownError(lib, name, schema, op) {
  if (lib === 'rjsf') {
    const list = page.locator(`[id="root_${name}__error"]`);
    return (await list.count()) ? (await list.innerText()).trim() : '';
  }
  const f = await mustField(lib, name, schema, op);
  return f.evaluate((el) => {
    const label = el.closest('label');
    const control = el.closest('.MuiFormControl-root') || (label && label.parentElement);
    const texts = control ? [...control.querySelectorAll(':scope .MuiFormHelperText-root.Mui-error')] : [];
    return texts.map((p) => p.textContent.trim()).filter(Boolean).join('\n');
  });
}

// What makes a form show its errors: rjsf validates on submit (the submit must be refused);
// JSON Forms validates live (wait out the typing debounce).
async function showErrors(lib, op) {
  if (lib === 'rjsf') {
    const r = await page.evaluate(() => window.harness.submit());
    assert.ok(!r.submitted && !r.timeout, `${op} [rjsf]: expected the submit to be refused with errors, got ${JSON.stringify(r).slice(0, 300)}`);
    return r.errors;
  }
  await settleTyping(lib);
  return page.evaluate(() => window.harness.errors());
}

// Fields in the order their labels appear in the DOM (by the label's `for`, or the input it
// wraps), as property names.
async function labelOrder(lib) {
  return page.evaluate((lib) => {
    const names = [];
    for (const l of document.querySelectorAll('#form label')) {
      const input = l.htmlFor ? document.getElementById(l.htmlFor) : l.querySelector('input, select, textarea');
      const id = l.htmlFor || (input && input.id) || '';
      const m = lib === 'rjsf' ? /^root_(.+)$/.exec(id) : /^#\/properties\/(.+?)(-input)?$/.exec(id);
      if (m && names[names.length - 1] !== m[1]) names.push(m[1]);
    }
    return names;
  }, lib);
}

// Group titles as drawn, in DOM order: rjsf legends (our ObjectFieldTemplate's fieldsets),
// JSON Forms Material Group cards' header titles.
async function groupTitles(lib) {
  const sel = lib === 'rjsf' ? '#form legend' : '#form .MuiCardHeader-title';
  return page.locator(sel).allTextContents();
}

function jsonFormsGroups(el, out = []) {
  if (el && el.type === 'Group') out.push(el.label);
  for (const c of (el && el.elements) || []) jsonFormsGroups(c, out);
  return out;
}

// The input the host would receive: rjsf's onSubmit formData (the submit button clicked),
// JSON Forms' onChange data.
async function submitted(lib, op) {
  await settleTyping(lib);
  const problems = await drainMessages();
  assert.deepEqual(problems, [], `${op} [${lib}]: console errors/warnings while filling the form`);
  if (lib === 'rjsf') {
    const r = await page.evaluate(() => window.harness.submit());
    assert.ok(
      r.submitted,
      `${op} [rjsf]: the form refused to submit: ${JSON.stringify(r.errors || r)}; shown: ${(await formText()).slice(0, 400)}`,
    );
    return r.formData;
  }
  const errors = await page.evaluate(() => window.harness.errors());
  assert.deepEqual(errors, [], `${op} [jsonforms]: the filled form has validation errors; shown: ${(await formText()).slice(0, 400)}`);
  return harnessData();
}

// get_object's user metadata: its `Metadata` output (schemas/get_object.output.json).
function metadataOf(output, rec) {
  rec.metadata_read_back = output.Metadata;
  return output.Metadata;
}

function bodyOf(output) {
  if (typeof output.Body === 'string') return Buffer.from(output.Body, 'utf8');
  if (typeof output.BodyBase64 === 'string') return Buffer.from(output.BodyBase64, 'base64');
  return null;
}

// ---------------------------------------------------------------------------------------------
// What a person sees, with the generated UI schemas: field order and groups, error texts where
// the mistake is, masked secrets. Needs no connector.

test('what a person sees: order, groups, errors at the field, masked secrets', { timeout: 60_000 }, async (t) => {
  const put = readJson(path.join(SCHEMAS, 'put_object.input.json'));
  const connection = readJson(path.join(SCHEMAS, 'connection.json'));
  const op = 'put_object';
  const sseAlg = 'x-amz-server-side-encryption-customer-algorithm';
  const sseKey = 'x-amz-server-side-encryption-customer-key';
  for (const lib of LIBS) {
    const seen = (report.seen[lib] = {});
    const fresh = async (schema = put, name = op) => {
      await render(lib, schema, uiSchemaFor(name, lib));
      await drainMessages(); // the drawing's own warnings are the first test's business
    };
    const quiet = async (what) => {
      assert.deepEqual(await drainMessages(), [], `${what} [${lib}]: console errors/warnings`);
    };

    await t.test(`${lib}: put_object starts with Bucket, Key, Body; groups in the UI schema's order`, async () => {
      const ui = uiSchemaFor(op, lib);
      assert.ok(ui, `no schemas/ui/${op}.${lib}.json`);
      await fresh();
      const order = await labelOrder(lib);
      seen.label_order = order;
      assert.deepEqual(order.slice(0, 3), ['Bucket', 'Key', 'Body'], `${op} [${lib}]: the first labels are ${order.slice(0, 6).join(', ')}`);
      const want = lib === 'rjsf' ? ui['ui:groups'].filter((g) => g.title).map((g) => g.title) : jsonFormsGroups(ui);
      assert.ok(want.length > 0, `${op} [${lib}]: the UI schema has no titled groups`);
      const drawn = (await groupTitles(lib)).map((x) => x.trim());
      seen.group_titles = drawn;
      assert.deepEqual(drawn.filter((x) => want.includes(x)), want, `${op} [${lib}]: group titles drawn: ${JSON.stringify(drawn)}`);
      // The metadata field this library's UI schema leaves out is not shown (rjsf:
      // MetadataEntries has `ui:widget: hidden`; JSON Forms: no Control for x-amz-meta-).
      const left = page.locator(lib === 'rjsf' ? '[id^="root_MetadataEntries"]' : '[id^="#/properties/x-amz-meta-"]');
      seen.left_out_metadata_elements = await left.count();
      assert.equal(await left.filter({ visible: true }).count(), 0, `${op} [${lib}]: the metadata field its UI schema leaves out is visible`);
      if (lib === 'rjsf') {
        // Each titled group's fieldset holds its fields; the untitled first group is in none.
        for (const g of ui['ui:groups']) {
          const inGroup = await page.evaluate(
            (id) => {
              const fs = document.getElementById(id) && document.getElementById(id).closest('fieldset.rjsf-group');
              return fs ? fs.querySelector(':scope > legend').textContent : null;
            },
            `root_${g.fields[0]}`,
          );
          assert.equal(inGroup, g.title || null, `${op} [rjsf]: ${g.fields[0]} is drawn in group ${inGroup}, not ${g.title || '(untitled)'}`);
        }
      }
      await quiet(op);
    });

    await t.test(`${lib}: Body and BodyFile both given: "give only one of" at the field`, async () => {
      await fresh();
      await typeInto(lib, 'Bucket', put, op, 'my-bucket');
      await typeInto(lib, 'Key', put, op, 'k');
      await typeInto(lib, 'Body', put, op, 'hello');
      await typeInto(lib, 'BodyFile', put, op, 'data/hello.txt');
      await showErrors(lib, op);
      const atFile = await shownError(lib, 'BodyFile', put, op);
      const atBody = await shownError(lib, 'Body', put, op);
      seen.body_twice = { BodyFile: atFile, Body: atBody };
      assert.ok(/give only one of/.test(atFile + '\n' + atBody), `${op} [${lib}]: no "give only one of" at BodyFile or Body: ${JSON.stringify(seen.body_twice)}`);
      await quiet(op);
    });

    await t.test(`${lib}: SSE-C algorithm without a key: error at the key`, async () => {
      await fresh();
      await typeInto(lib, 'Bucket', put, op, 'my-bucket');
      await typeInto(lib, 'Key', put, op, 'k');
      await pick(lib, sseAlg, put, op, 'AES256');
      await showErrors(lib, op);
      const text = await shownError(lib, sseKey, put, op);
      seen.sse_c_without_key = text;
      assert.ok(text, `${op} [${lib}]: no error shown at ${sseKey}; form data ${JSON.stringify(await harnessData())}`);
      await quiet(op);
    });

    await t.test(`${lib}: a bad bucket name is explained in words`, async () => {
      await fresh();
      await typeInto(lib, 'Bucket', put, op, 'bad bucket!');
      await typeInto(lib, 'Key', put, op, 'k');
      await showErrors(lib, op);
      const text = await shownError(lib, 'Bucket', put, op);
      seen.bad_bucket = text;
      assert.ok(text.includes('may contain only letters'), `${op} [${lib}]: Bucket's error is ${JSON.stringify(text)}`);
      assert.ok(!text.includes('^['), `${op} [${lib}]: Bucket's error shows a regex: ${JSON.stringify(text)}`);
      await quiet(op);
    });

    await t.test(`${lib}: secrets are masked`, async () => {
      const types = {};
      await fresh();
      types[`${op}.${sseKey}`] = await (await mustField(lib, sseKey, put, op)).getAttribute('type');
      await fresh(connection, 'connection');
      for (const name of ['secret_access_key', 'session_token']) {
        types[`connection.${name}`] = await (await mustField(lib, name, connection, 'connection')).getAttribute('type');
      }
      seen.input_types = types;
      for (const [k, v] of Object.entries(types)) assert.equal(v, 'password', `[${lib}] ${k} is drawn as type=${v}`);
      await quiet('connection');
    });
  }
  writeReport();
});

test('filled forms (put, get, copy, upload, delete_prefix, presign) submit input the connector runs', { timeout: 120_000 }, async (t) => {
  const bin = process.env.S3_CONNECTOR_BIN;
  const connJson = process.env.S3_CONNECTOR_TEST_CONNECTION;
  assert.ok(
    bin && fs.existsSync(bin),
    'S3_CONNECTOR_BIN is not set (or not a file): this part runs the connector binary; ' +
      'run it through `cargo test --test forms`, which sets it and S3_CONNECTOR_TEST_CONNECTION',
  );
  assert.ok(connJson, 'S3_CONNECTOR_TEST_CONNECTION is not set (a JSON connection object); run through `cargo test --test forms`');
  const conn = JSON.parse(connJson);
  const bucket = `forms-${crypto.randomBytes(5).toString('hex')}`;
  runOk(conn, 'create_bucket', { Bucket: bucket }, 'create_bucket');
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'forms-'));
  const schemas = Object.fromEntries(
    ['put_object', 'get_object', 'copy_object', 'upload_file', 'delete_prefix', 'presign_get_object'].map((n) => [
      n,
      readJson(path.join(SCHEMAS, `${n}.input.json`)),
    ]),
  );
  const created = [];
  const extraBuckets = []; // delete_prefix's own buckets, emptied and removed at the end
  try {
    for (const lib of LIBS) {
      const key = `${lib}/typed.txt`;
      const body = `typed into the ${lib} form — ünïcödé ✓ ${crypto.randomBytes(4).toString('hex')}`;
      const rec = (report.filled[lib] = {});
      let putOk = false;

      await t.test(`${lib}: put_object`, async () => {
        const op = 'put_object';
        const s = schemas[op];
        await renderToFill(lib, op, s, rec);
        await typeInto(lib, 'Bucket', s, op, bucket);
        await typeInto(lib, 'Key', s, op, key);
        await typeInto(lib, 'Body', s, op, body);
        await typeInto(lib, 'Content-Type', s, op, 'text/plain; charset=utf-8');
        await addMetadata(lib, op, 'blue');
        await pick(lib, 'x-amz-storage-class', s, op, 'REDUCED_REDUNDANCY');
        if (SHOTS) await screenshot(`put_object.${lib}.filled.png`);
        const input = await submitted(lib, op);
        rec[op].input = input;
        assert.ok(input[lib === 'rjsf' ? 'x-amz-meta-' : 'MetadataEntries'], `${op} [${lib}]: the submitted input has no metadata: ${JSON.stringify(input)}`);
        runOk(conn, op, input, `${op} [${lib}]`);
        created.push(key);
        putOk = true;
        const got = runOk(conn, 'get_object', { Bucket: bucket, Key: key }, `get_object after ${op} [${lib}]`);
        assert.deepEqual(metadataOf(got, rec[op]), { color: 'blue' }, `${op} [${lib}]: get_object's metadata is not what the form gave`);
      });

      await t.test(`${lib}: get_object`, async () => {
        const op = 'get_object';
        const s = schemas[op];
        assert.ok(putOk, `${op} [${lib}]: put_object failed before`);
        await renderToFill(lib, op, s, rec);
        await typeInto(lib, 'Bucket', s, op, bucket);
        await typeInto(lib, 'Key', s, op, key);
        const input = await submitted(lib, op);
        rec[op].input = input;
        const out = runOk(conn, op, input, `${op} [${lib}]`);
        const got = bodyOf(out);
        assert.ok(got, `${op} [${lib}]: no Body/BodyBase64 in ${JSON.stringify(out)}`);
        assert.equal(got.toString('utf8'), body, `${op} [${lib}]: the body is not what put_object's form typed`);
      });

      await t.test(`${lib}: copy_object`, async () => {
        const op = 'copy_object';
        const s = schemas[op];
        assert.ok(putOk, `${op} [${lib}]: put_object failed before`);
        const dest = `${lib}/copied.txt`;
        await renderToFill(lib, op, s, rec);
        await typeInto(lib, 'Bucket', s, op, bucket);
        await typeInto(lib, 'Key', s, op, dest);
        // The string form of the copy source (a oneOf string | object): rjsf draws a chooser
        // select, JSON Forms Material tabs titled by the branches; the string branch's input is
        // labelled with its title (JSON Forms gives it the id "#-input", the branch's own scope).
        const source = `${bucket}/${encodeURIComponent(key).replace(/%2F/g, '/')}`;
        const branch = s.properties['x-amz-copy-source'].oneOf.find((b) => b.type === 'string');
        if (lib === 'rjsf') {
          const chooser = page.locator('[id="root_x-amz-copy-source__oneof_select"]');
          if ((await chooser.count()) === 1) await chooser.selectOption({ label: branch.title });
          await typeInto(lib, 'x-amz-copy-source', s, op, source);
        } else {
          await page.getByRole('tab', { name: branch.title, exact: true }).click();
          const input = page.getByLabel(branch.title, { exact: true });
          assert.equal(await input.count(), 1, `${op} [jsonforms]: no input labelled ${branch.title}`);
          await input.fill(source);
          await input.blur();
        }
        // rjsf keeps the source's metadata; JSON Forms replaces it (directive REPLACE and one
        // MetadataEntries entry).
        if (lib === 'rjsf') {
          await pick(lib, 'x-amz-metadata-directive', s, op, 'COPY');
        } else {
          await pick(lib, 'x-amz-metadata-directive', s, op, 'REPLACE');
          await addMetadata(lib, op, 'green');
        }
        if (SHOTS) await screenshot(`copy_object.${lib}.filled.png`);
        const input = await submitted(lib, op);
        rec[op].input = input;
        runOk(conn, op, input, `${op} [${lib}]`);
        created.push(dest);
        const out = runOk(conn, 'get_object', { Bucket: bucket, Key: dest }, `get_object of the copy [${lib}]`);
        assert.equal(bodyOf(out).toString('utf8'), body, `${op} [${lib}]: the copy's body differs`);
        const want = lib === 'rjsf' ? 'blue' : 'green';
        assert.deepEqual(metadataOf(out, rec[op]), { color: want }, `${op} [${lib}]: the copy's metadata is not color=${want}`);
      });

      await t.test(`${lib}: upload_file`, async () => {
        const op = 'upload_file';
        const s = schemas[op];
        const file = path.join(tmp, `${lib}-upload.bin`);
        const bytes = crypto.randomBytes(300 * 1024);
        fs.writeFileSync(file, bytes);
        const dest = `${lib}/uploaded.bin`;
        await renderToFill(lib, op, s, rec);
        await typeInto(lib, 'Bucket', s, op, bucket);
        await typeInto(lib, 'Key', s, op, dest);
        await typeInto(lib, 'BodyFile', s, op, file);
        const input = await submitted(lib, op);
        rec[op].input = input;
        runOk(conn, op, input, `${op} [${lib}]`);
        created.push(dest);
        const outFile = path.join(tmp, `${lib}-downloaded.bin`);
        runOk(conn, 'get_object', { Bucket: bucket, Key: dest, OutputFile: outFile }, `get_object of the upload [${lib}]`);
        assert.ok(fs.readFileSync(outFile).equals(bytes), `${op} [${lib}]: the stored object differs from the file`);
      });
      await t.test(`${lib}: delete_prefix, dry run then for real`, async () => {
        const op = 'delete_prefix';
        const s = schemas[op];
        // A bucket of its own, so that what is left can be listed whole: 3 keys under p/ and
        // keep.txt beside them.
        const dpBucket = `${bucket}-dp-${lib}`;
        runOk(conn, 'create_bucket', { Bucket: dpBucket }, `create_bucket for ${op} [${lib}]`);
        extraBuckets.push(dpBucket);
        for (const k of ['p/a.txt', 'p/b.txt', 'p/c/d.txt', 'keep.txt']) {
          runOk(conn, 'put_object', { Bucket: dpBucket, Key: k, Body: `body of ${k}` }, `put_object ${k} for ${op} [${lib}]`);
        }
        const fill = async (dryRun) => {
          await renderToFill(lib, op, s, rec);
          await typeInto(lib, 'Bucket', s, op, dpBucket);
          await typeInto(lib, 'Prefix', s, op, 'p/');
          if (dryRun) await tick(lib, 'DryRun', s, op, true);
        };
        await fill(true);
        const dry = await submitted(lib, op);
        rec[op].dry_run_input = dry;
        assert.ok(!('AllowWholeBucket' in dry), `${op} [${lib}]: the untouched "delete every key" box was sent: ${JSON.stringify(dry)}`);
        assert.equal(dry.Prefix, 'p/', `${op} [${lib}]: Prefix submitted as ${JSON.stringify(dry.Prefix)}`);
        assert.equal(dry.DryRun, true, `${op} [${lib}]: the ticked Dry run box submitted ${JSON.stringify(dry.DryRun)}`);
        const dryOut = runOk(conn, op, dry, `${op} dry run [${lib}]`);
        rec[op].dry_run_output = dryOut;
        assert.equal(dryOut.Found, 3, `${op} [${lib}]: the dry run found ${dryOut.Found} keys under p/, not 3: ${JSON.stringify(dryOut)}`);
        assert.equal(dryOut.Deleted, 0, `${op} [${lib}]: the dry run deleted ${dryOut.Deleted} keys: ${JSON.stringify(dryOut)}`);

        // The same form, Dry run unticked again.
        await tick(lib, 'DryRun', s, op, false);
        const real = await submitted(lib, op);
        rec[op].input = real;
        assert.ok(!('AllowWholeBucket' in real), `${op} [${lib}]: the untouched "delete every key" box was sent: ${JSON.stringify(real)}`);
        assert.ok(real.DryRun !== true, `${op} [${lib}]: the unticked Dry run box submitted ${JSON.stringify(real.DryRun)}`);
        const out = runOk(conn, op, real, `${op} [${lib}]`);
        rec[op].output = out;
        assert.equal(out.Deleted, 3, `${op} [${lib}]: deleted ${out.Deleted} keys under p/, not 3: ${JSON.stringify(out)}`);
        const left = runOk(conn, 'list_objects_v2', { Bucket: dpBucket }, `list_objects_v2 after ${op} [${lib}]`);
        const keys = (left.Contents || []).map((c) => c.Key);
        assert.deepEqual(keys, ['keep.txt'], `${op} [${lib}]: the bucket holds ${JSON.stringify(keys)} after deleting p/`);
      });

      await t.test(`${lib}: delete_prefix with no Prefix: the form says so at Prefix`, async () => {
        const op = 'delete_prefix';
        const s = schemas[op];
        await render(lib, s, uiSchemaFor(op, lib));
        await drainMessages();
        await typeInto(lib, 'Bucket', s, op, `${bucket}-dp-${lib}`);
        let seen;
        if (lib === 'rjsf') {
          // rjsf marks Prefix required (the schema's `if`/`then` with no AllowWholeBucket) and gives
          // its input `required`: the browser's own check stops the submit at Prefix, with its
          // message there, before rjsf's validation.
          const r = await clickSubmitExpectingBrowserCheck();
          seen = { browser_check: r, rjsf_error: await shownError(lib, 'Prefix', s, op) };
          assert.equal(r.submitted, false, `${op} [rjsf]: the form was submitted with no Prefix: ${JSON.stringify(r)}`);
          assert.deepEqual(r.invalid, ['root_Prefix'], `${op} [rjsf]: the browser reported ${JSON.stringify(r.invalid)} invalid, not Prefix`);
          assert.equal(r.focused, 'root_Prefix', `${op} [rjsf]: the browser pointed at ${r.focused}, not Prefix`);
          assert.ok(r.message, `${op} [rjsf]: the browser shows no message at Prefix`);
        } else {
          await showErrors(lib, op);
          const text = await shownError(lib, 'Prefix', s, op);
          seen = { shown_at_prefix: text };
          assert.ok(text, `${op} [jsonforms]: no error shown at Prefix; shown: ${(await formText()).slice(0, 400)}`);
        }
        (report.filled[lib][op] ||= {}).no_prefix = seen;
        assert.deepEqual(await drainMessages(), [], `${op} [${lib}]: console errors/warnings`);
      });

      // A person who ticks "Delete every key in the bucket" and unticks it again is back where
      // they started: both libraries leave AllowWholeBucket: false in the data, which the schema
      // and the connector take as not asked, so a Prefix is accepted. (It was refused until
      // false stopped counting as given.)
      await t.test(
        `${lib}: delete_prefix: "Delete every key" ticked and unticked, then a Prefix: accepted`,
        async () => {
          const op = 'delete_prefix';
          const s = schemas[op];
          await render(lib, s, uiSchemaFor(op, lib));
          await drainMessages();
          await typeInto(lib, 'Bucket', s, op, `${bucket}-dp-${lib}`);
          await tick(lib, 'AllowWholeBucket', s, op, true);
          await tick(lib, 'AllowWholeBucket', s, op, false);
          await typeInto(lib, 'Prefix', s, op, 'p/');
          await settleTyping(lib);
          const data = await harnessData();
          const errors = (await page.evaluate(() => window.harness.errors())).map((e) => `${e.instancePath} ${e.message}`);
          // rjsf shows its errors after a submit attempt.
          if (lib === 'rjsf') await page.evaluate(() => window.harness.submit());
          const shown = {
            AllowWholeBucket: await shownError(lib, 'AllowWholeBucket', s, op),
            Prefix: await shownError(lib, 'Prefix', s, op),
          };
          const v = connector('validate', { operation: op, connection: conn, input: data });
          (report.filled[lib][op] ||= {}).ticked_and_unticked = { data, errors, shown, validate_exit: v.code };
          await drainMessages();
          assert.deepEqual(errors, [], `${op} [${lib}]: the form refuses ${JSON.stringify(data)}; shown: ${JSON.stringify(shown)}`);
          assert.equal(v.code, 0, `${op} [${lib}]: \`validate\` refuses ${JSON.stringify(data)}:\n${v.stdout}${v.stderr}`);
        },
      );

      await t.test(`${lib}: presign_get_object, the URL fetched without credentials`, async () => {
        const op = 'presign_get_object';
        const s = schemas[op];
        assert.ok(putOk, `${op} [${lib}]: put_object failed before`);
        const disposition = 'attachment; filename="x.txt"';
        await renderToFill(lib, op, s, rec);
        await typeInto(lib, 'Bucket', s, op, bucket);
        await typeInto(lib, 'Key', s, op, key);
        await typeInto(lib, 'ExpiresIn', s, op, '120');
        await typeInto(lib, 'response-content-disposition', s, op, disposition);
        const input = await submitted(lib, op);
        rec[op].input = input;
        assert.equal(input.ExpiresIn, 120, `${op} [${lib}]: ExpiresIn submitted as ${JSON.stringify(input.ExpiresIn)}`);
        assert.equal(input['response-content-disposition'], disposition, `${op} [${lib}]: the disposition submitted is ${JSON.stringify(input['response-content-disposition'])}`);
        const out = runOk(conn, op, input, `${op} [${lib}]`);
        rec[op].output = { ...out, URL: out.URL && out.URL.replace(/(X-Amz-Signature=)[0-9a-f]+/i, '$1...') };
        assert.ok(typeof out.URL === 'string' && out.URL.startsWith('http://127.0.0.1'), `${op} [${lib}]: URL is ${JSON.stringify(out.URL)}`);
        const res = await fetch(out.URL);
        const got = Buffer.from(await res.arrayBuffer());
        rec[op].fetched = { status: res.status, 'content-disposition': res.headers.get('content-disposition') };
        assert.equal(res.status, 200, `${op} [${lib}]: GET of the presigned URL answered ${res.status}: ${got.toString('utf8').slice(0, 300)}`);
        assert.equal(got.toString('utf8'), body, `${op} [${lib}]: the presigned URL's body is not what put_object's form typed`);
        assert.equal(res.headers.get('content-disposition'), disposition, `${op} [${lib}]: the download's Content-Disposition`);
      });
    }
  } finally {
    writeReport();
    for (const key of created) connector('run', { operation: 'delete_object', connection: conn, input: { Bucket: bucket, Key: key } });
    connector('run', { operation: 'delete_bucket', connection: conn, input: { Bucket: bucket } });
    for (const b of extraBuckets) {
      connector('run', { operation: 'delete_prefix', connection: conn, input: { Bucket: b, AllowWholeBucket: true } });
      connector('run', { operation: 'delete_bucket', connection: conn, input: { Bucket: b } });
    }
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
