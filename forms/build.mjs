// Bundles src/page.jsx (React production build) into <repo>/target/forms/page.js with a
// page.html next to it. Run by test/forms.test.mjs before it starts; `node build.mjs` by hand.
import { build } from 'esbuild';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const outDir = path.resolve(here, '..', 'target', 'forms');

const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>s3-connector forms harness</title>
<link rel="icon" href="data:,">
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 16px; }
  #app { max-width: 960px; }
  input, select, textarea { font: inherit; }
  /* rjsf's core theme is plain HTML with Bootstrap 3 class names and no CSS of its own; a few
     rules for readable spacing, group borders and red errors. */
  .form-rjsf fieldset { border: 1px solid #c8ccd2; border-radius: 6px; padding: 6px 16px 12px; margin: 12px 0; }
  .form-rjsf fieldset fieldset { border-color: #e0e3e7; }
  .form-rjsf legend { font-weight: 600; padding: 0 6px; }
  .form-rjsf .form-group { margin: 10px 0; }
  .form-rjsf .control-label { display: block; font-weight: 500; margin-bottom: 2px; }
  .form-rjsf .required { color: #c62828; margin-left: 2px; }
  .form-rjsf .field-description { color: #555; font-size: 12px; margin: 0 0 4px; }
  .form-rjsf input:not([type=checkbox]):not([type=radio]), .form-rjsf select, .form-rjsf textarea {
    box-sizing: border-box; width: 100%; max-width: 560px; padding: 5px 7px;
    border: 1px solid #9aa0a6; border-radius: 4px; }
  .form-rjsf .error-detail { list-style: none; margin: 4px 0 0; padding: 0; }
  .form-rjsf .text-danger, .form-rjsf .error-detail li { color: #c62828; }
  .form-rjsf .has-error input, .form-rjsf .has-error select, .form-rjsf .has-error textarea { border-color: #c62828; }
  .form-rjsf .panel-danger { border: 1px solid #c62828; border-radius: 6px; padding: 4px 14px; color: #c62828; }
  .form-rjsf .btn { font: inherit; padding: 6px 16px; border: 1px solid #9aa0a6; border-radius: 4px; background: #f1f3f4; cursor: pointer; }
  .form-rjsf button[type=submit] { background: #1976d2; border-color: #1976d2; color: #fff; }
  /* Bootstrap rules rjsf relies on: .hidden hides \`ui:widget: hidden\` fields (without it they
     show); its buttons are Glyphicon icons with a title, shown here as the title's text. */
  .form-rjsf .hidden { display: none; }
  .form-rjsf .btn[title]::before { content: attr(title); }
  .form-rjsf .btn-danger { color: #c62828; }
</style>
</head>
<body>
<div id="app"></div>
<script src="page.js"></script>
</body>
</html>
`;

// FORMS_DEV=1 bundles React's development build (unminified), which logs React's and MUI's
// development-only warnings (keys, props); the default is the production build a host ships.
export const dev = process.env.FORMS_DEV === '1';

export async function buildPage() {
  await mkdir(outDir, { recursive: true });
  await build({
    entryPoints: [path.join(here, 'src', 'page.jsx')],
    bundle: true,
    outfile: path.join(outDir, 'page.js'),
    format: 'iife',
    platform: 'browser',
    target: ['chrome120'],
    jsx: 'automatic',
    minify: !dev,
    sourcemap: false,
    legalComments: 'none',
    define: { 'process.env.NODE_ENV': dev ? '"development"' : '"production"', global: 'globalThis' },
    logLevel: 'warning',
  });
  await writeFile(path.join(outDir, 'page.html'), html);
  return outDir;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const t = Date.now();
  await buildPage();
  console.log(`built ${outDir}/page.js and page.html in ${Date.now() - t} ms`);
}
