// The page the forms test drives: draws one JSON Schema at a time in rjsf 6 (its core theme:
// plain HTML) or JSON Forms 3 (its Material renderer set, MUI 7), each in its default
// configuration except what a host has to wire in: the validator (a JSON Schema 2020-12 Ajv
// with ajv-formats and ajv-errors, for both) and, for rjsf, a root ObjectFieldTemplate that
// draws the UI schema's `ui:groups` (GroupedObjectFieldTemplate below).
//
// API on `window.harness` (all calls return promises that settle once React has committed):
//   render({lib: 'rjsf' | 'jsonforms', schema, uischema, formData}) mounts a fresh form
//     (the previous one is unmounted); `uischema` is rjsf's uiSchema object or JSON Forms'
//     UI schema element tree; `formData` is the initial data (default: none for rjsf, `{}` for
//     JSON Forms, which needs an object to draw an object schema).
//   data()     the form's current data as the host receives it (rjsf: the Form's formData, what
//              onChange carries; JSON Forms: onChange's `data`).
//   errors()   the current validation errors: [{instancePath, keyword, message, params}],
//              rjsf: the validator's result for the current data, JSON Forms: onChange's errors.
//   submit()   rjsf only: clicks the form's submit button; resolves to
//              {submitted: true, formData} (onSubmit) or {submitted: false, errors} (onError).
//   unmount()  removes the form.
//   render's optional `props` adds props to <Form>/<JsonForms> (for experiments only; the
//   test draws every form in the default configuration and never passes it).
import React from 'react';
import { createRoot } from 'react-dom/client';
import { flushSync } from 'react-dom';

import Form, { getDefaultRegistry } from '@rjsf/core';
import { getUiOptions } from '@rjsf/utils';
import { customizeValidator } from '@rjsf/validator-ajv8';

import { JsonForms } from '@jsonforms/react';
import { materialCells, materialRenderers } from '@jsonforms/material-renderers';

import Ajv2020 from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import ajvErrors from 'ajv-errors';

// rjsf: its validator builds the Ajv itself (its defaults: allErrors, strict: false, verbose,
// multipleOfPrecision 8, its `color`/`data-url` formats); we give it the 2020-12 class and, in
// its documented `extenderFn` hook, the same ajv-formats (3.x, ours rather than the 2.x copy it
// bundles, so both libraries validate formats alike) and ajv-errors.
const rjsfValidator = customizeValidator({
  AjvClass: Ajv2020,
  ajvFormatOptions: false,
  extenderFn: (ajv) => {
    addFormats(ajv);
    ajvErrors(ajv);
    return ajv;
  },
});

// JSON Forms: the options of its own `createAjv` (allErrors, verbose, strict: false,
// addUsedSchema: false) on the 2020-12 class, with ajv-formats and ajv-errors.
function jsonFormsAjv(extra) {
  const ajv = new Ajv2020({ allErrors: true, verbose: true, strict: false, addUsedSchema: false, ...extra });
  addFormats(ajv);
  ajvErrors(ajv);
  return ajv;
}

// rjsf: draws the root's `ui:groups` ([{fields}, {title, fields}, ...]): the untitled group
// plain and first, each titled group as a <fieldset> with a <legend>. Objects without
// `ui:groups` (nested ones, or no UI schema) get rjsf's default template.
const DefaultObjectFieldTemplate = getDefaultRegistry().templates.ObjectFieldTemplate;

function GroupedObjectFieldTemplate(props) {
  const { groups } = getUiOptions(props.uiSchema);
  if (!Array.isArray(groups)) return <DefaultObjectFieldTemplate {...props} />;
  const drawn = (fields) => props.properties.filter((p) => fields.includes(p.name)).map((p) => p.content);
  const sections = groups.map((group, i) => ({
    name: `group-${i}`,
    content: group.title ? (
      <fieldset key={i} className="rjsf-group">
        <legend>{group.title}</legend>
        {drawn(group.fields)}
      </fieldset>
    ) : (
      <div key={i}>{drawn(group.fields)}</div>
    ),
  }));
  // Fields in no group (none when the UI schema lists them all) come last, ungrouped.
  const grouped = groups.flatMap((group) => group.fields);
  const rest = props.properties.filter((p) => !grouped.includes(p.name));
  return <DefaultObjectFieldTemplate {...props} properties={[...sections, ...rest]} />;
}

const rjsfTemplates = { ObjectFieldTemplate: GroupedObjectFieldTemplate };

const state = {
  lib: null,
  schema: null,
  root: null,
  container: null,
  data: undefined,
  errors: [],
  submit: null, // {resolve} while a submit is pending
  formRef: null,
  renders: 0,
};

class Boundary extends React.Component {
  constructor(props) {
    super(props);
    this.state = { error: null };
  }
  static getDerivedStateFromError(error) {
    return { error };
  }
  componentDidCatch(error) {
    console.error('harness: the form threw while rendering: ' + (error && error.stack ? error.stack : error));
  }
  render() {
    if (this.state.error) {
      return <pre id="harness-crash">{String(this.state.error)}</pre>;
    }
    return this.props.children;
  }
}

const settle = () =>
  new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));

function rjsfElement(schema, uischema, formData, ref, props) {
  return (
    <Form
      ref={ref}
      schema={schema}
      uiSchema={uischema || {}}
      formData={formData}
      validator={rjsfValidator}
      templates={rjsfTemplates}
      {...props}
      onChange={(e) => {
        state.data = e.formData;
      }}
      onSubmit={(e) => {
        state.data = e.formData;
        const p = state.submit;
        state.submit = null;
        if (p) p.resolve({ submitted: true, formData: e.formData });
      }}
      onError={(errors) => {
        const p = state.submit;
        state.submit = null;
        if (p) p.resolve({ submitted: false, errors: errors.map(plainRjsfError) });
      }}
    />
  );
}

function jsonFormsElement(schema, uischema, formData, props) {
  return (
    <JsonForms
      schema={schema}
      uischema={uischema || undefined}
      data={formData === undefined ? {} : formData}
      renderers={materialRenderers}
      cells={materialCells}
      ajv={props && props.ajvOptions ? jsonFormsAjv(props.ajvOptions) : jsonFormsAjv()}
      onChange={({ data, errors }) => {
        state.data = data;
        state.errors = (errors || []).map(plainAjvError);
      }}
    />
  );
}

function plainAjvError(e) {
  return {
    instancePath: e.instancePath,
    schemaPath: e.schemaPath,
    keyword: e.keyword,
    message: e.message,
    params: JSON.parse(JSON.stringify(e.params || {})),
  };
}

function plainRjsfError(e) {
  return {
    property: e.property,
    name: e.name,
    message: e.message,
    stack: e.stack,
    schemaPath: e.schemaPath,
    params: JSON.parse(JSON.stringify(e.params || {})),
  };
}

function unmount() {
  if (state.root) {
    const root = state.root;
    state.root = null;
    flushSync(() => root.unmount());
  }
  if (state.container) {
    state.container.remove();
    state.container = null;
  }
  state.data = undefined;
  state.errors = [];
  state.submit = null;
  state.formRef = null;
}

async function render({ lib, schema, uischema, formData, props } = {}) {
  if (lib !== 'rjsf' && lib !== 'jsonforms') throw new Error(`unknown lib ${lib}`);
  unmount();
  const container = document.createElement('div');
  container.id = 'form';
  container.className = `form-${lib}`;
  document.getElementById('app').appendChild(container);
  state.container = container;
  state.lib = lib;
  state.schema = schema;
  state.formRef = React.createRef();
  state.data = lib === 'jsonforms' ? (formData === undefined ? {} : formData) : formData;
  const el =
    lib === 'rjsf'
      ? rjsfElement(schema, uischema, formData, state.formRef, props)
      : jsonFormsElement(schema, uischema, formData, props);
  state.root = createRoot(container);
  flushSync(() => state.root.render(<Boundary>{el}</Boundary>));
  await settle();
  await settle();
  state.renders += 1;
  return true;
}

function data() {
  if (state.lib === 'rjsf') {
    const form = state.formRef && state.formRef.current;
    const d = form && form.state ? form.state.formData : state.data;
    return d === undefined ? null : JSON.parse(JSON.stringify(d));
  }
  return state.data === undefined ? null : JSON.parse(JSON.stringify(state.data));
}

function errors() {
  if (state.lib === 'rjsf') {
    const d = state.formRef && state.formRef.current ? state.formRef.current.state.formData : state.data;
    const raw = rjsfValidator.rawValidation(state.schema, d);
    if (raw.validationError) {
      return [{ instancePath: '', keyword: 'compile', message: String(raw.validationError.message) }];
    }
    return (raw.errors || []).map(plainAjvError);
  }
  return state.errors;
}

async function submit() {
  if (state.lib !== 'rjsf') throw new Error('submit() is for rjsf; JSON Forms has no submit');
  const button = state.container.querySelector('button[type="submit"]');
  if (!button) throw new Error('rjsf drew no submit button');
  const result = new Promise((resolve) => {
    state.submit = { resolve };
  });
  button.click();
  const timeout = new Promise((resolve) =>
    setTimeout(() => resolve({ submitted: false, timeout: true }), 5000),
  );
  const r = await Promise.race([result, timeout]);
  await settle();
  return JSON.parse(JSON.stringify(r));
}

window.harness = {
  render,
  data,
  errors,
  submit,
  unmount: async () => {
    unmount();
    await settle();
  },
  versions: {
    react: React.version,
  },
};
document.documentElement.dataset.harness = 'ready';
